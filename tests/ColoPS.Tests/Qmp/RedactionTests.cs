using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Secrets sent to QEMU never reach a log, an observer or an exception.</summary>
    public class RedactionTests
    {
        private sealed class Observer : IQmpCommandObserver
        {
            public readonly ConcurrentQueue<string> Seen = new ConcurrentQueue<string>();
            public void OnSend(QmpSession session, string command, string json) => Seen.Enqueue("send " + command + " " + json);
            public void OnReceive(QmpSession session, string command, string json) => Seen.Enqueue("recv " + command + " " + json);
        }

        [Fact]
        public async Task Passwords_NeverAppearInLogObserverOrErrors()
        {
            const string Password = "hunter2-Sup3rSecret";
            const string SecretData = "c2VjcmV0LWJ5dGVz-TopSecretData";
            var log = new ConcurrentQueue<QmpLogRecord>();
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { Log = log.Enqueue });
            var observer = new Observer();
            QmpCommandException error;
            using (QmpCommandObserver.Use(observer))
            {
                var vnc = h.Session.ExecuteAsync("change-vnc-password", new JsonObject { ["password"] = Password });
                var vncCmd = await h.Qemu.ReadCommandAsync();
                Assert.Equal(Password, vncCmd.Arguments!["password"]!.GetValue<string>()); // QEMU does get it
                await h.Qemu.ReplyErrorAsync(vncCmd, "GenericError", "Could not set password");
                error = await Assert.ThrowsAsync<QmpCommandException>(() => vnc.Within());

                var add = h.Session.ExecuteAsync("object-add", new JsonObject { ["qom-type"] = "secret", ["id"] = "sec0", ["data"] = SecretData, ["format"] = "base64" });
                var addCmd = await h.Qemu.ReadCommandAsync();
                Assert.Equal(SecretData, addCmd.Arguments!["data"]!.GetValue<string>());
                await h.Qemu.ReplyAsync(addCmd);
                await add.Within();

                var blk = h.Session.ExecuteAsync("blockdev-add", new JsonObject
                {
                    ["driver"] = "nbd", ["node-name"] = "n0",
                    ["server"] = new JsonObject { ["type"] = "inet", ["host"] = "127.0.0.1", ["port"] = "9999" },
                    ["tls-creds"] = new JsonObject { ["passphrase"] = Password },
                });
                await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync());
                await blk.Within();
            }

            var texts = log.Select(r => r.ToString()).Concat(observer.Seen)
                .Concat(new[] { error.Message, error.SentJson!, error.ReceivedJson!, error.ToString() }).ToList();
            Assert.Contains(texts, t => t.Contains("change-vnc-password") && t.Contains("***"));
            Assert.Contains(texts, t => t.Contains("\"data\":\"***\""));
            Assert.Contains(observer.Seen, t => t.StartsWith("send blockdev-add") && t.Contains("\"passphrase\":\"***\"") && t.Contains("127.0.0.1"));
            Assert.All(texts, t => Assert.DoesNotContain(Password, t));
            Assert.All(texts, t => Assert.DoesNotContain(SecretData, t));
            Assert.Matches("^\\{\"execute\":\"change-vnc-password\",\"arguments\":\\{\"password\":\"\\*\\*\\*\"\\},\"id\":[0-9]+\\}$", error.SentJson);
        }

        [Fact]
        public async Task Secrets_in_replies_are_masked_in_the_log_and_observer_but_returned_to_the_caller()
        {
            const string Password = "reply-Secret-42";
            var log = new ConcurrentQueue<QmpLogRecord>();
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { Log = log.Enqueue });
            var observer = new Observer();
            using (QmpCommandObserver.Use(observer))
            {
                var get = h.Session.ExecuteAsync("qom-get", new JsonObject { ["path"] = "/objects/vnc0", ["property"] = "settings" });
                await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync(), new JsonObject { ["password"] = Password, ["port"] = 5900 });
                var value = await get.Within();
                Assert.Equal(Password, value.GetProperty("password").GetString());
            }
            var texts = log.Select(r => r.ToString()).Concat(observer.Seen).ToList();
            Assert.Contains(texts, t => t.Contains("\"password\":\"***\"") && t.Contains("5900"));
            Assert.All(texts, t => Assert.DoesNotContain(Password, t));
        }

        [Fact] // "data" is only secret on a secret object
        public void Redactor_DataIsOrdinaryOutsideSecretObjects()
        {
            var msg = new JsonObject { ["execute"] = "guest-file-write", ["arguments"] = new JsonObject { ["data"] = "plain" } };
            Assert.Contains("plain", QmpRedactor.Redact(msg));
        }
    }
}
