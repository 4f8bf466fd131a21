using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Many callers on one session, and OOB back-pressure: QEMU queues at most 8 in-band commands, exec-oob overtakes them.</summary>
    public class ConcurrencyTests
    {
        private sealed class ServeStats
        {
            public int MaxInBandInFlight;
            public readonly HashSet<string> Ids = new HashSet<string>();
        }

        // The fake answers every command with {"echo": its arguments}, in a random order within each batch of
        // commands it has read back to back; it counts in-band commands read but not yet answered.
        private static async Task<ServeStats> ServeShuffledAsync(FakeQmpConnection qemu, int total, int seed)
        {
            var stats = new ServeStats();
            var rnd = new Random(seed);
            var batch = new List<FakeCommand>();
            int served = 0, inFlight = 0;
            while (served < total)
            {
                var cmd = await qemu.ReadCommandAsync();
                Assert.True(stats.Ids.Add(cmd.IdJson!), "duplicate id " + cmd.IdJson);
                if (!cmd.Oob) stats.MaxInBandInFlight = Math.Max(stats.MaxInBandInFlight, ++inFlight);
                batch.Add(cmd);
                if (batch.Count < 64 && qemu.HasBufferedInput) continue;

                var replies = new StringBuilder();
                foreach (var c in batch.OrderBy(_ => rnd.Next()))
                {
                    if (!c.Oob) inFlight--;
                    replies.Append(FakeQmpConnection.ReturnJson(c, new JsonObject { ["echo"] = c.Arguments?.DeepClone() })).Append("\r\n");
                }
                served += batch.Count;
                batch.Clear();
                await qemu.SendAsync(replies.ToString());
            }
            return stats;
        }

        private static Task[] Callers(QmpSession session, int threads, int perThread) =>
            Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
            {
                for (int i = 0; i < perThread; i++)
                {
                    var r = await session.ExecuteAsync("x-echo", new JsonObject { ["t"] = t, ["i"] = i });
                    var echo = r.GetProperty("echo");
                    Assert.Equal(t, echo.GetProperty("t").GetInt32());
                    Assert.Equal(i, echo.GetProperty("i").GetInt32());
                }
            })).ToArray();

        [Fact] // 8 threads × 200 commands, replies in random order: every caller gets its own reply
        public async Task ManyThreads_RandomReplyOrder_NoCrossTalk()
        {
            using var h = await QmpHarness.StartAsync();
            var server = ServeShuffledAsync(h.Qemu, 8 * 200, seed: 44);
            await Task.WhenAll(Callers(h.Session, 8, 200)).Within();
            var stats = await server.Within();
            Assert.Equal(1600, stats.Ids.Count);
            Assert.Equal(0, h.Session.UnknownReplyCount);
            Assert.Equal(0, h.Session.PendingCommandCount);
        }

        [Fact] // with OOB on, never more than 8 in-band commands in flight at the server, however many callers
        public async Task WithOob_AtMostEightInBandInFlight()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var server = ServeShuffledAsync(h.Qemu, 16 * 100, seed: 45);
            await Task.WhenAll(Callers(h.Session, 16, 100)).Within();
            var stats = await server.Within();
            Assert.InRange(stats.MaxInBandInFlight, 1, QmpSessionOptions.DefaultMaxInBandInFlight);
            Assert.Equal(1600, stats.Ids.Count);
        }

        [Fact] // with 20 in-band commands queued, QEMU sees exactly 8; an exec-oob overtakes them; each answer frees one slot
        public async Task WithOob_BackPressureAndExecOobOvertakes()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var inBand = Enumerable.Range(0, 20).Select(i => h.Session.ExecuteAsync("inband", new JsonObject { ["n"] = i })).ToArray();
            var outstanding = new List<FakeCommand>();
            for (int i = 0; i < 8; i++) outstanding.Add(await h.Qemu.ReadCommandAsync());
            Assert.All(outstanding, c => Assert.False(c.Oob));
            Assert.True(await h.Qemu.NothingArrivesWithinAsync(TimeSpan.FromMilliseconds(150)), "a 9th in-band command was sent");

            var oob = h.Session.ExecuteAsync("query-yank", null, new QmpCallOptions { OutOfBand = true });
            var oobCmd = await h.Qemu.ReadCommandAsync(); // the next thing on the wire is the OOB command, ahead of 12 queued in-band ones
            Assert.True(oobCmd.Oob);
            await h.Qemu.ReplyAsync(oobCmd, new JsonArray());
            await oob.Within();
            Assert.All(inBand, t => Assert.False(t.IsCompleted));

            int answered = 0, maxInFlight = outstanding.Count;
            while (answered < inBand.Length)
            {
                var c = outstanding[0];
                outstanding.RemoveAt(0);
                await h.Qemu.ReplyAsync(c, c.Arguments!["n"]!.DeepClone());
                answered++;
                if (answered + outstanding.Count < inBand.Length)
                {
                    outstanding.Add(await h.Qemu.ReadCommandAsync());
                    maxInFlight = Math.Max(maxInFlight, outstanding.Count);
                }
            }
            for (int i = 0; i < inBand.Length; i++) Assert.Equal(i, (await inBand[i].Within()).GetInt32());
            Assert.Equal(8, maxInFlight);
        }

        [Fact] // exec-oob answered while an in-band command is blocked in QEMU
        public async Task ExecOob_OvertakesABlockedInBandCommand()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var blocked = h.Session.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "defer" });
            var blockedCmd = await h.Qemu.ReadCommandAsync();
            var pause = h.Session.ExecuteAsync("migrate-pause", null, new QmpCallOptions { OutOfBand = true });
            var pauseCmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReplyAsync(pauseCmd, "paused");
            Assert.Equal("paused", (await pause.Within()).GetString());
            Assert.False(blocked.IsCompleted);
            await h.Qemu.ReplyAsync(blockedCmd, "incoming");
            Assert.Equal("incoming", (await blocked.Within()).GetString());
        }
    }
}
