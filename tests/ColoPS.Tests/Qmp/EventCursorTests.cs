using System;
using ColoPS.Qmp;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>
    /// Where a default event wait starts: events since the caller's last command that no earlier
    /// wait returned. QEMU sends the event a command causes before the command's reply, so the
    /// start must be the moment the command was sent, not the moment the wait begins.
    /// </summary>
    public class EventCursorTests
    {
        private static QmpEvent Event(long sequence, string name) => new QmpEvent(null, sequence, name, null, 1, 0, DateTimeOffset.Now);

        private static readonly Func<QmpEvent, bool> Stop = e => e.Name == "STOP";

        [Fact] // stop, then wait: the STOP that came before the wait began is found
        public void An_event_after_the_command_but_before_the_wait_counts()
        {
            var cursor = new QmpEventCursor(0);
            cursor.CommandSent(lastEventSequence: 4);
            var match = cursor.Untaken(Stop);
            Assert.Equal(4, cursor.Mark);
            Assert.True(match(Event(5, "STOP")));
        }

        [Fact] // a STOP from an earlier command is stale: the wait starts after the mark, so it never sees #3
        public void Events_up_to_the_last_command_are_left_behind()
        {
            var cursor = new QmpEventCursor(0);
            cursor.CommandSent(3);
            cursor.CommandSent(7);
            Assert.Equal(7, cursor.Mark);
        }

        [Fact] // two waits for STOP after one command want two STOP events
        public void A_returned_event_is_not_returned_again_but_other_events_still_are()
        {
            var cursor = new QmpEventCursor(0);
            cursor.CommandSent(2);
            var first = Event(3, "STOP");
            cursor.Take(first);
            var match = cursor.Untaken(e => true);
            Assert.False(match(first));
            Assert.True(match(Event(4, "STOP")));
            Assert.True(match(Event(5, "RESUME")));
        }

        [Fact] // the next command starts afresh: what was taken before it no longer matters (and is not kept)
        public void A_new_command_moves_the_mark_and_forgets_what_was_taken()
        {
            var cursor = new QmpEventCursor(0);
            cursor.Take(Event(1, "STOP"));
            cursor.CommandSent(1);
            Assert.True(cursor.Untaken(Stop)(Event(2, "STOP")));
            cursor.CommandSent(0); // a stale reading never moves the mark back
            Assert.Equal(1, cursor.Mark);
        }

        [Fact] // a cursor made for a session another runspace connected starts at its newest event
        public void A_cursor_starts_at_the_mark_it_is_given()
        {
            var cursor = new QmpEventCursor(12);
            Assert.Equal(12, cursor.Mark);
            Assert.True(cursor.Untaken(Stop)(Event(13, "STOP")));
        }
    }
}
