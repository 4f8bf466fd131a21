using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Presents a QmpEvent to PowerShell with its data as PSCustomObject instead of raw JSON.</summary>
    internal static class PSQmpEvent
    {
        public static PSObject Wrap(QmpEvent evt)
        {
            var pso = PSObject.AsPSObject(evt);
            pso.Properties.Add(new PSNoteProperty("Data", evt.Data.HasValue ? PSJson.ToPSValue(evt.Data.Value) : null));
            return pso;
        }
    }
}
