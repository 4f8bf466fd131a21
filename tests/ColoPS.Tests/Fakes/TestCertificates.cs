using System;
using System.IO;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ColoPS.Colo;

namespace ColoPS.Tests.Fakes
{
    /// <summary>
    /// A site's certificate folder as the validator reads it: a server certificate naming the given
    /// addresses and a client certificate for the given subject (self-signed; nothing here checks a
    /// chain), the other files present with owner-only modes.
    /// </summary>
    internal static class TestCertificates
    {
        public static void WriteSiteFolder(string dir, string clientSubject, params string[] serverAddresses)
        {
            Directory.CreateDirectory(dir);
            foreach (var f in ColoTlsConfig.RequiredFiles) Write(Path.Combine(dir, f), "-");
            Write(Path.Combine(dir, ColoTlsConfig.ServerCertificate), Pem("CN=server", serverAddresses));
            Write(Path.Combine(dir, ColoTlsConfig.ClientCertificate), Pem(clientSubject, Array.Empty<string>()));
        }

        public static string Pem(string subject, string[] addresses)
        {
            using var key = ECDsa.Create();
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            if (addresses.Length > 0)
            {
                var san = new SubjectAlternativeNameBuilder();
                foreach (var a in addresses)
                {
                    if (IPAddress.TryParse(a, out var ip)) san.AddIpAddress(ip);
                    else san.AddDnsName(a);
                }
                request.CertificateExtensions.Add(san.Build());
            }
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            return cert.ExportCertificatePem();
        }

        private static void Write(string path, string text)
        {
            File.WriteAllText(path, text);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
