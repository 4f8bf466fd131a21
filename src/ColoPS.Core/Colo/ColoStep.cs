using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json.Nodes;

namespace ColoPS.Colo
{
    public enum ColoStepKind
    {
        /// <summary>A QMP command (exec-oob when OutOfBand).</summary>
        Qmp,
        /// <summary>An HMP command line through human-monitor-command; any text it prints is an error.</summary>
        Hmp,
        /// <summary>Poll query-migrate until "colo"; "completed", "failed" or "cancelled" instead is a failed start.</summary>
        WaitForColo,
        /// <summary>Poll query-block-jobs until the job is ready (mirror in sync).</summary>
        WaitForJobReady,
        /// <summary>Poll query-block-jobs until the job is gone.</summary>
        WaitForJobGone,
        /// <summary>Poll query-colo-status until mode is none.</summary>
        WaitForColoExit,
        /// <summary>Poll qom-get connected on the primary's mirror and compare chardevs until the secondary is on both.</summary>
        WaitForPeerChardevs,
    }

    /// <summary>One step of a COLO procedure, as data: executed by ColoPlanRunner and printed by -WhatIf.</summary>
    public sealed class ColoStep
    {
        private ColoStep(ColoStepKind kind, string command, JsonObject? arguments, string description, bool outOfBand, string? jobId = null, string? hmpLine = null)
        {
            Kind = kind;
            Command = command;
            Arguments = arguments;
            Description = description;
            OutOfBand = outOfBand;
            JobId = jobId;
            HmpLine = hmpLine;
        }

        public ColoStepKind Kind { get; }
        public string Command { get; }
        public JsonObject? Arguments { get; }
        public string Description { get; }
        public bool OutOfBand { get; }
        /// <summary>The block job a WaitForJob step waits on.</summary>
        public string? JobId { get; }
        /// <summary>The command line of an Hmp step (also in Arguments, as QMP sends it).</summary>
        public string? HmpLine { get; }

        public static ColoStep Qmp(string command, JsonObject? arguments, string description) => new ColoStep(ColoStepKind.Qmp, command, arguments, description, false);
        public static ColoStep Oob(string command, JsonObject? arguments, string description) => new ColoStep(ColoStepKind.Qmp, command, arguments, description, true);
        public static ColoStep Hmp(string commandLine, string description)
            => new ColoStep(ColoStepKind.Hmp, "human-monitor-command", new JsonObject { ["command-line"] = commandLine }, description, false, hmpLine: commandLine);
        public static ColoStep Wait(ColoStepKind kind, string description, string? jobId = null)
            => new ColoStep(kind, string.Empty, null, description, false, jobId: jobId);

        /// <summary>The wire form for a QMP step, the way -WhatIf and the unit tests see it.</summary>
        public string ToJson()
        {
            if (Kind != ColoStepKind.Qmp && Kind != ColoStepKind.Hmp) return string.Empty;
            var o = new JsonObject { [OutOfBand ? "exec-oob" : "execute"] = Command };
            if (Arguments != null) o["arguments"] = Arguments.DeepClone();
            return o.ToJsonString();
        }

        public override string ToString() => Kind switch
        {
            ColoStepKind.Qmp or ColoStepKind.Hmp => ToJson(),
            _ => $"(wait) {Description}",
        };
    }

    /// <summary>A named sequence of steps against one node.</summary>
    public sealed class ColoPlan
    {
        public ColoPlan(string name, string nodeName, IReadOnlyList<ColoStep> steps)
        {
            Name = name;
            NodeName = nodeName;
            Steps = steps;
        }

        public string Name { get; }
        public string NodeName { get; }
        public IReadOnlyList<ColoStep> Steps { get; }

        public string ToText()
        {
            var sb = new StringBuilder();
            sb.Append(Name).Append(" on ").Append(NodeName).Append(':').AppendLine();
            int i = 1;
            foreach (var s in Steps) sb.Append("  ").Append(i++).Append(". ").Append(s).AppendLine();
            return sb.ToString();
        }
    }
}
