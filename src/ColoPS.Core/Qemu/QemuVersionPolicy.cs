using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>What each QEMU version can do in a COLO pair.</summary>
    public static class QemuVersionPolicy
    {
        /// <summary>
        /// 10.0.0-10.0.6 and 10.1.0-10.1.2 end the primary's migration "completed" instead of
        /// entering COLO (upstream 48814111 "migration: Always set DEVICE state"; fixed by 0b5bf4ea
        /// "migration: Fix transition to COLO state from precopy" in 10.0.7, 10.1.3 and 10.2.0).
        /// </summary>
        public static bool CanBePrimary(QemuVersion v)
        {
            if (v.Major == 10 && v.Minor == 0 && v.Micro <= 6) return false;
            if (v.Major == 10 && v.Minor == 1 && v.Micro <= 2) return false;
            return true;
        }

        public static void ThrowIfCannotBePrimary(QemuVersion v)
        {
            if (CanBePrimary(v)) return;
            throw new ColoException("ColoQemuVersionUnsupported", ColoErrorKind.NotSupported,
                $"QEMU {v} cannot be a COLO primary: its migration ends 'completed' instead of entering COLO. " +
                "Upstream commit 0b5bf4ea (\"migration: Fix transition to COLO state from precopy\") fixes it, in 10.0.7, 10.1.3 and 10.2.0. " +
                "Use a fixed QEMU (7.2 works), or -SkipVersionCheck to try anyway (the failed start is then detected).");
        }
    }
}
