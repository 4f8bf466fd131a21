using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Framing: cutting QEMU's byte stream into whole messages, however the reads split it.</summary>
    public class FramingTests
    {
        // Raw UTF-8 (2-, 3- and 4-byte sequences) and \uXXXX escapes, braces and quotes inside strings.
        private const string Text = "caf\u00e9 \u20ac \U0001F600 }{ \"q\" \\";
        private const string TextJson = "\"caf\u00e9 \u20ac \U0001F600 }{ \\\"q\\\" \\\\\""; // the same, as a JSON string with raw UTF-8

        private static string Greeting => FakeQmpConnection.Qemu72GreetingOob;
        private static string Reply => "{\"return\": {\"text\": " + TextJson + ", \"esc\": \"\\u00e9\\ud83d\\ude00\"}, \"id\": 1}";
        private static string Event => FakeQmpConnection.EventJson("RESUME");

        private static List<string> FeedAll(QmpFramer framer, IEnumerable<byte[]> chunks)
        {
            var messages = new List<byte[]>();
            foreach (var c in chunks) framer.Feed(c, messages);
            return messages.Select(m => Encoding.UTF8.GetString(m)).ToList();
        }

        [Fact] // every split point of a greeting + reply + event stream
        public void Framer_SplitAtEveryByteBoundary_YieldsTheSameMessages()
        {
            byte[] stream = Encoding.UTF8.GetBytes(Greeting + "\r\n" + Reply + "\r\n" + Event + "\r\n");
            var expected = new[] { Greeting, Reply, Event };
            Assert.Contains((byte)0xF0, stream); // the 4-byte sequence is really there, raw
            for (int cut = 1; cut < stream.Length; cut++)
            {
                var got = FeedAll(new QmpFramer(4096), new[] { stream[..cut], stream[cut..] });
                Assert.Equal(expected, got);
            }
        }

        [Fact] // one byte per read, so every UTF-8 sequence and every \r\n pair is torn apart
        public void Framer_OneBytePerRead_YieldsTheSameMessages()
        {
            byte[] stream = Encoding.UTF8.GetBytes(Greeting + "\r\n" + Reply + "\r\n");
            var got = FeedAll(new QmpFramer(4096), stream.Select(b => new[] { b }));
            Assert.Equal(new[] { Greeting, Reply }, got);
        }

        [Fact] //  end to end: the greeting cut at every byte boundary, one connection per cut
        public async Task Session_GreetingSplitAtEveryByteBoundary_IsRead()
        {
            using var server = new FakeQmpServer();
            byte[] greeting = Encoding.UTF8.GetBytes(FakeQmpConnection.Qemu72Greeting + "\r\n");
            for (int cut = 1; cut < greeting.Length; cut++)
            {
                var connecting = QmpSession.ConnectAsync(server.Endpoint);
                using var qemu = await server.AcceptAsync();
                await qemu.SendSplitAsync(greeting, new[] { cut });
                var caps = await qemu.ReadCommandAsync();
                await qemu.ReplyAsync(caps);
                using var session = await connecting.Within();
                Assert.Equal(QmpSessionState.Running, session.State);
                Assert.Equal(7, session.QemuVersion!.Major);
                Assert.Equal(19, session.QemuVersion.Micro);
            }
        }

        [Fact] //  end to end: a reply with raw multi-byte UTF-8 and escapes, cut at every byte (incl. between \r and \n)
        public async Task Session_ReplySplitAtEveryByteBoundary_IsDecodedExactly()
        {
            using var h = await QmpHarness.StartAsync();
            for (int cut = 1; ; cut++)
            {
                var call = h.Session.ExecuteAsync("x-echo");
                var cmd = await h.Qemu.ReadCommandAsync();
                byte[] reply = Encoding.UTF8.GetBytes("{\"return\": {\"text\": " + TextJson + ", \"esc\": \"\\u00e9\\ud83d\\ude00\"}, \"id\": " + cmd.IdJson + "}\r\n");
                bool last = cut >= reply.Length - 1;
                await h.Qemu.SendSplitAsync(reply, new[] { Math.Min(cut, reply.Length - 1) });
                var result = await call.Within();
                Assert.Equal(Text, result.GetProperty("text").GetString());
                Assert.Equal("\u00e9\U0001F600", result.GetProperty("esc").GetString());
                if (last) break;
            }
            Assert.Equal(0, h.Session.UnknownReplyCount);
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // events and several replies arrive in one write
        public async Task Session_SeveralMessagesInOneRead_AreAllDispatched()
        {
            using var h = await QmpHarness.StartAsync();
            var a = h.Session.ExecuteAsync("query-a");
            var ca = await h.Qemu.ReadCommandAsync();
            var b = h.Session.ExecuteAsync("query-b");
            var cb = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendAsync(
                FakeQmpConnection.EventJson("STOP") + "\r\n" +
                FakeQmpConnection.ReturnJson(cb, "B") + "\r\n" +
                FakeQmpConnection.EventJson("RESUME") + "\r\n" +
                FakeQmpConnection.ReturnJson(ca, "A") + "\r\n");
            Assert.Equal("A", (await a.Within()).GetString());
            Assert.Equal("B", (await b.Within()).GetString());
            Assert.Equal(new[] { "STOP", "RESUME" }, h.Session.GetEvents().Select(e => e.Name));
        }

        [Theory] // LF-only and CRLF line ends, greeting and replies alike
        [InlineData("\r\n")]
        [InlineData("\n")]
        public async Task Session_LineEnds_LfAndCrlfBothWork(string eol)
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendAsync(FakeQmpConnection.Qemu72Greeting + eol);
            var caps = await qemu.ReadCommandAsync();
            await qemu.SendAsync(FakeQmpConnection.ReturnJson(caps) + eol);
            using var session = await connecting.Within();

            var call = session.ExecuteAsync("query-status");
            var cmd = await qemu.ReadCommandAsync();
            await qemu.SendAsync(FakeQmpConnection.EventJson("STOP") + eol + FakeQmpConnection.ReturnJson(cmd, new JsonObject { ["status"] = "paused" }) + eol);
            Assert.Equal("paused", (await call.Within()).GetProperty("status").GetString());
            Assert.Single(session.GetEvents());
        }

        [Fact] // pretty=on spreads one message over many CRLF lines (QEMU puts \r before every \n)
        public async Task Session_PrettyMultiLineMessages_AreParsed()
        {
            static string Pretty(string json) => JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }).Replace("\r\n", "\n").Replace("\n", "\r\n") + "\r\n";

            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendAsync(Pretty(FakeQmpConnection.Qemu72GreetingOob));
            var caps = await qemu.ReadCommandAsync();
            await qemu.SendAsync(Pretty(FakeQmpConnection.ReturnJson(caps)));
            using var session = await connecting.Within();
            Assert.True(session.OobEnabled);

            var call = session.ExecuteAsync("query-block");
            var cmd = await qemu.ReadCommandAsync();
            var value = JsonNode.Parse("[{\"device\":\"ide0-hd0\",\"inserted\":{\"file\":\"a { b [\",\"ro\":false}},{\"device\":\"cd\",\"locked\":true}]");
            string pretty = Pretty(FakeQmpConnection.EventJson("BLOCK_JOB_READY", new JsonObject { ["device"] = "j" })) + Pretty(FakeQmpConnection.ReturnJson(cmd, value));
            Assert.Contains("\r\n  ", pretty);
            await qemu.SendAsync(pretty);
            var result = await call.Within();
            Assert.Equal(2, result.GetArrayLength());
            Assert.Equal("a { b [", result[0].GetProperty("inserted").GetProperty("file").GetString());
            Assert.Equal("BLOCK_JOB_READY", session.GetEvents().Single().Name);
        }

        [Fact] // blank lines and stray whitespace before the greeting and between messages
        public async Task Session_BlankLinesAndWhitespace_AreSkipped()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendAsync("\r\n\r\n \t \n" + FakeQmpConnection.Qemu72Greeting + "\r\n\r\n   ");
            var caps = await qemu.ReadCommandAsync();
            await qemu.SendAsync("\t\r\n" + FakeQmpConnection.ReturnJson(caps) + " \r\n\n\n");
            using var session = await connecting.Within();

            var call = session.ExecuteAsync("query-status");
            var cmd = await qemu.ReadCommandAsync();
            await qemu.SendAsync("\r\n \r\n" + FakeQmpConnection.EventJson("STOP") + "\r\n\r\n\t" + FakeQmpConnection.ReturnJson(cmd, 5) + "\r\n\r\n");
            Assert.Equal(5, (await call.Within()).GetInt32());
            Assert.Equal(QmpSessionState.Running, session.State);
            Assert.Equal(0, session.UnknownReplyCount);
        }
    }
}
