using System;
using System.Text.Json;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>What a reply must look like: a JSON object with exactly one of return or error, a well-formed error, any JSON return value.</summary>
    public class ReplyValidationTests
    {
        // Runs one command; the fake answers with the given JSON, "{id}" replaced by the command's id.
        private static async Task<Task<JsonElement>> AnswerWith(QmpHarness h, string replyTemplate, string command = "query-status")
        {
            var call = h.Session.ExecuteAsync(command);
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(replyTemplate.Replace("{id}", cmd.IdJson));
            return call;
        }

        private static async Task AssertStillWorks(QmpHarness h)
        {
            var call = await AnswerWith(h, "{\"return\": {\"ok\": true}, \"id\": {id}}", "query-ok");
            Assert.True((await call.Within()).GetProperty("ok").GetBoolean());
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Theory] // a message that is JSON but not an object breaks the session with a protocol cause
        [InlineData("[]")]
        [InlineData("[{\"return\": {}}]")]
        [InlineData("1")]
        [InlineData("\"x\"")]
        [InlineData("null")]
        [InlineData("true")]
        public async Task NonObjectMessage_BreaksTheSession(string message)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, message);
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            var cause = Assert.IsType<QmpProtocolException>(ex.InnerException);
            Assert.Equal(message, cause.OffendingJson!.Trim());
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
            Assert.Same(cause, h.Session.Fault);
        }

        [Theory] // invalid JSON breaks the session (the stream can no longer be trusted)
        [InlineData("{\"return\": }")]
        [InlineData("{\"return\": {}, \"id\": {id},}")]
        [InlineData("{'return': {}}")]
        [InlineData("{\"return\": tru, \"id\": {id}}")]
        public async Task InvalidJson_BreaksTheSessionWithAProtocolError(string message)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, message);
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            var cause = Assert.IsType<QmpProtocolException>(ex.InnerException);
            Assert.IsAssignableFrom<JsonException>(cause.InnerException);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }

        [Theory] // repeated members: refuse to guess, fail that call only
        [InlineData("{\"return\": 1, \"return\": 2, \"id\": {id}}")]
        [InlineData("{\"return\": 1, \"id\": {id}, \"id\": {id}}")]
        public async Task DuplicateKeys_FailThatCallOnly(string message)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, message);
            var ex = await Assert.ThrowsAsync<QmpProtocolException>(() => call.Within());
            Assert.Contains("repeats a member", ex.Message);
            await AssertStillWorks(h);
        }

        [Fact] // unknown top-level members are ignored
        public async Task UnknownTopLevelMembers_AreIgnored()
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, "{\"x-future\": [1, {\"a\": null}], \"return\": {\"status\": \"running\"}, \"__com.example_note\": \"hi\", \"id\": {id}}");
            Assert.Equal("running", (await call.Within()).GetProperty("status").GetString());
            await AssertStillWorks(h);
        }

        [Theory] // both or neither of return/error → protocol error for that call; the session keeps working
        [InlineData("{\"return\": {}, \"error\": {\"class\": \"GenericError\", \"desc\": \"d\"}, \"id\": {id}}", "both")]
        [InlineData("{\"id\": {id}}", "neither")]
        [InlineData("{\"result\": {}, \"id\": {id}}", "neither")]
        public async Task BothOrNeitherReturnAndError_FailThatCallOnly(string message, string word)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, message);
            var ex = await Assert.ThrowsAsync<QmpProtocolException>(() => call.Within());
            Assert.Contains(word, ex.Message);
            Assert.NotNull(ex.OffendingJson);
            await AssertStillWorks(h);
        }

        [Theory] // error object missing class or desc, or with wrong types
        [InlineData("{\"error\": {\"desc\": \"no class\"}, \"id\": {id}}")]
        [InlineData("{\"error\": {\"class\": \"GenericError\"}, \"id\": {id}}")]
        [InlineData("{\"error\": {\"class\": 1, \"desc\": \"x\"}, \"id\": {id}}")]
        [InlineData("{\"error\": {\"class\": \"GenericError\", \"desc\": null}, \"id\": {id}}")]
        [InlineData("{\"error\": \"GenericError: oops\", \"id\": {id}}")]
        public async Task MalformedErrorObject_FailsThatCallWithAProtocolError(string message)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, message);
            var ex = await Assert.ThrowsAsync<QmpProtocolException>(() => call.Within());
            Assert.Contains("\"class\" and \"desc\"", ex.Message);
            await AssertStillWorks(h);
        }

        [Theory] // the error class is an open set: unknown and downstream classes are kept as strings
        [InlineData("__com.redhat_SomeNewError")]
        [InlineData("FutureErrorClass2031")]
        [InlineData("DeviceNotFound")]
        public async Task ErrorClass_IsKeptAsAString(string errorClass)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, "{\"error\": {\"class\": \"" + errorClass + "\", \"desc\": \"Device 'x' not found\", \"x-extra\": 1}, \"id\": {id}}", "device_del");
            var ex = await Assert.ThrowsAsync<QmpCommandException>(() => call.Within());
            Assert.Equal(errorClass, ex.ErrorClass);
            Assert.Equal("Device 'x' not found", ex.Description);
            Assert.Equal("device_del", ex.Command);
            Assert.Contains("\"device_del\"", ex.SentJson);
            Assert.Contains(errorClass, ex.ReceivedJson);
            await AssertStillWorks(h);
        }

        [Fact] // human-monitor-command returns the HMP output as a JSON string
        public async Task ExecuteHuman_ReturnsTheText()
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteHumanAsync("info status");
            var cmd = await h.Qemu.ReadCommandAsync();
            Assert.Equal("human-monitor-command", cmd.Name);
            Assert.Equal("info status", cmd.Arguments!["command-line"]!.GetValue<string>());
            await h.Qemu.ReplyAsync(cmd, "VM status: running\r\n");
            Assert.Equal("VM status: running\r\n", await call.Within());
        }

        [Theory] // return may be any JSON value
        [InlineData("{}", JsonValueKind.Object)]
        [InlineData("{\"a\":[1,2,{\"b\":null}]}", JsonValueKind.Object)]
        [InlineData("[]", JsonValueKind.Array)]
        [InlineData("[1,\"two\",3.5]", JsonValueKind.Array)]
        [InlineData("\"text\"", JsonValueKind.String)]
        [InlineData("\"\"", JsonValueKind.String)]
        [InlineData("42", JsonValueKind.Number)]
        [InlineData("-1.5e3", JsonValueKind.Number)]
        [InlineData("true", JsonValueKind.True)]
        [InlineData("false", JsonValueKind.False)]
        [InlineData("null", JsonValueKind.Null)]
        public async Task ReturnOfEveryJsonType_IsDelivered(string value, JsonValueKind kind)
        {
            using var h = await QmpHarness.StartAsync();
            var call = await AnswerWith(h, "{\"return\": " + value + ", \"id\": {id}}");
            var result = await call.Within();
            Assert.Equal(kind, result.ValueKind);
            Assert.Equal(value, result.GetRawText());
        }
    }
}
