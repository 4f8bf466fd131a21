#Requires -Version 7.4
<#
.SYNOPSIS
    Builds ColoPS's MAML help and about topics from platyPS v2 markdown, without platyPS.

.DESCRIPTION
    Reads docs/en-US/<Verb-Noun>.md (platyPS v2 cmdlet pages) and docs/en-US/about_*.md, and writes
    <OutputPath>/ColoPS.dll-Help.xml (MAML, UTF-8 without BOM) and <OutputPath>/about_*.help.txt.

    Prose (synopsis, description, examples, parameter descriptions, inputs, outputs, notes, links)
    comes from the markdown. Everything the module can say about itself (parameter sets, types,
    positions, mandatory, pipeline input, aliases, wildcard support) comes from the staged module,
    imported here, so the help never disagrees with the code. The yaml blocks in the markdown are
    only compared with the module, and drift is reported as a warning.

    The run fails (throws, listing every problem) when an exported cmdlet has no page, or a page
    lacks a synopsis, a description, an example with code, inputs, outputs, or a description of
    one of the cmdlet's parameters. A page whose cmdlet is not in the loaded module is skipped with
    a warning, so pages can be written before their cmdlet is merged.

    The output is deterministic: the same markdown and module give a byte-identical file.

    -NewPage writes skeleton pages (front matter, syntax, one yaml block per parameter from the
    module, {{ placeholders }} for the prose) for cmdlets that have none yet.

.EXAMPLE
    ./tools/New-ColoMaml.ps1 -MarkdownPath docs/en-US -OutputPath en-US

.EXAMPLE
    ./tools/New-ColoMaml.ps1 -NewPage Start-ColoPrimary
#>
[CmdletBinding(DefaultParameterSetName = 'Build')]
param(
    # Folder of the markdown pages.
    [string] $MarkdownPath = (Join-Path $PSScriptRoot '../docs/en-US'),

    # Folder that receives ColoPS.dll-Help.xml and the about_*.help.txt files.
    [Parameter(ParameterSetName = 'Build')]
    [string] $OutputPath = (Join-Path $PSScriptRoot '../en-US'),

    # The staged module manifest the metadata is read from.
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS/ColoPS.psd1'),

    # Cmdlet names to write skeleton pages for (existing pages are never overwritten).
    [Parameter(Mandatory, ParameterSetName = 'NewPage')]
    [string[]] $NewPage
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$MamlNs = 'http://schemas.microsoft.com/maml/2004/10'
$CommandNs = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$DevNs = 'http://schemas.microsoft.com/maml/dev/2004/10'
$MSHelpNs = 'http://msdn.microsoft.com/mshelp'
$HelpFileName = 'ColoPS.dll-Help.xml'
$SchemaVersion = '2024-05-01'
$Common = [System.Management.Automation.Cmdlet]::CommonParameters
$ShouldProcessParameters = @('WhatIf', 'Confirm')
$DefaultDescriptions = @{
    WhatIf  = 'Shows what the cmdlet would do, without doing it.'
    Confirm = 'Asks you to confirm before the cmdlet acts.'
}

#region Markdown reading

function ConvertFrom-YamlScalar([string] $Value) {
    $v = $Value.Trim()
    if ($v.Length -ge 2 -and (($v[0] -eq "'" -and $v[-1] -eq "'") -or ($v[0] -eq '"' -and $v[-1] -eq '"'))) {
        $v = $v.Substring(1, $v.Length - 2)
    }
    return $v
}

function ConvertFrom-SimpleYaml([string[]] $Lines) {
    # Enough YAML for platyPS parameter blocks: scalars, [] , lists of scalars and lists of flat maps.
    $result = [ordered]@{}
    $key = $null
    $item = $null
    foreach ($line in $Lines) {
        if ($line.Trim() -eq '' -or $line.TrimStart().StartsWith('#')) { continue }
        if ($line -match '^(\w[\w ]*):\s*(.*)$') {
            $key = $Matches[1]
            $item = $null
            $value = $Matches[2].Trim()
            if ($value -eq '' -or $value -eq '[]') { $result[$key] = [System.Collections.Generic.List[object]]::new() }
            else { $result[$key] = ConvertFrom-YamlScalar $value }
            continue
        }
        if ($null -eq $key -or $result[$key] -isnot [System.Collections.Generic.List[object]]) {
            throw "Unexpected YAML line: '$line'"
        }
        if ($line -match '^\s*-\s+(\w+):\s*(.*)$') {
            $item = [ordered]@{ $Matches[1] = ConvertFrom-YamlScalar $Matches[2] }
            $result[$key].Add($item)
        }
        elseif ($line -match '^\s*-\s+(.*)$') {
            $item = $null
            $result[$key].Add((ConvertFrom-YamlScalar $Matches[1]))
        }
        elseif ($line -match '^\s+(\w+):\s*(.*)$' -and $null -ne $item) {
            $item[$Matches[1]] = ConvertFrom-YamlScalar $Matches[2]
        }
        else {
            throw "Unexpected YAML line: '$line'"
        }
    }
    return $result
}

function Read-Markdown([string] $Path) {
    # Splits a page into front matter, the H1 title, and H2 sections with their H3 subsections.
    $text = [System.IO.File]::ReadAllText($Path).Replace("`r`n", "`n")
    $lines = $text.Split("`n")
    $meta = [ordered]@{}
    $i = 0
    if ($lines.Count -gt 0 -and $lines[0].Trim() -eq '---') {
        $i = 1
        while ($i -lt $lines.Count -and $lines[$i].Trim() -ne '---') {
            if ($lines[$i] -match '^([^:#][^:]*):\s*(.*)$') { $meta[$Matches[1].Trim()] = ConvertFrom-YamlScalar $Matches[2] }
            $i++
        }
        if ($i -ge $lines.Count) { throw "${Path}: the front matter is not closed with '---'." }
        $i++
    }

    $doc = [pscustomobject]@{ Path = $Path; Meta = $meta; Title = $null; Sections = [ordered]@{} }
    $section = $null
    $sub = $null
    $fence = $null
    for (; $i -lt $lines.Count; $i++) {
        $line = $lines[$i]
        $target = $null
        if ($null -ne $sub) { $target = $sub.Lines } elseif ($null -ne $section) { $target = $section.Lines }
        if ($line -match '^\s*(```+|~~~+)') {
            if ($null -eq $fence) { $fence = $Matches[1] } elseif ($line.Trim() -eq $fence) { $fence = $null }
            if ($null -ne $target) { $target.Add($line) }
            continue
        }
        if ($null -eq $fence) {
            if ($line -match '^#\s+(.+?)\s*$') {
                if ($null -ne $doc.Title) { throw "${Path}: more than one '# ' title." }
                $doc.Title = $Matches[1]
                $section = $null
                $sub = $null
                continue
            }
            if ($line -match '^##\s+(.+?)\s*$') {
                $key = $Matches[1].ToUpperInvariant()
                if ($doc.Sections.Contains($key)) { throw "${Path}: the section '## $($Matches[1])' appears twice." }
                $section = [pscustomobject]@{ Title = $Matches[1]; Lines = [System.Collections.Generic.List[string]]::new(); Subs = [System.Collections.Generic.List[object]]::new() }
                $doc.Sections[$key] = $section
                $sub = $null
                continue
            }
            if ($line -match '^###\s+(.+?)\s*$' -and $null -ne $section) {
                $sub = [pscustomobject]@{ Title = $Matches[1]; Lines = [System.Collections.Generic.List[string]]::new() }
                $section.Subs.Add($sub)
                continue
            }
        }
        if ($null -ne $target) { $target.Add($line) }
    }
    if ($null -ne $fence) { throw "${Path}: a code block is not closed." }
    return $doc
}

function ConvertTo-Block([System.Collections.Generic.IEnumerable[string]] $Lines) {
    # Markdown lines to blocks: Text (one paragraph, lines kept) and Code (language, verbatim text).
    $blocks = [System.Collections.Generic.List[object]]::new()
    $para = [System.Collections.Generic.List[string]]::new()
    $all = @($Lines)
    $i = 0
    while ($i -lt $all.Count) {
        $line = $all[$i]
        if ($line -match '^(\s*)(```+|~~~+)\s*([\w+#-]*)\s*$') {
            if ($para.Count) { $blocks.Add([pscustomobject]@{ Kind = 'Text'; Lang = ''; Lines = @($para) }); $para.Clear() }
            $indent = $Matches[1].Length
            $fence = $Matches[2]
            $lang = $Matches[3].ToLowerInvariant()
            $code = [System.Collections.Generic.List[string]]::new()
            $i++
            while ($i -lt $all.Count -and $all[$i].Trim() -ne $fence) {
                $c = $all[$i]
                $strip = [Math]::Min($indent, $c.Length - $c.TrimStart().Length)
                $code.Add($c.Substring($strip).TrimEnd())
                $i++
            }
            while ($code.Count -and $code[$code.Count - 1] -eq '') { $code.RemoveAt($code.Count - 1) }
            while ($code.Count -and $code[0] -eq '') { $code.RemoveAt(0) }
            $blocks.Add([pscustomobject]@{ Kind = 'Code'; Lang = $lang; Lines = @($code) })
            $i++
            continue
        }
        if ($line.Trim() -eq '') {
            if ($para.Count) { $blocks.Add([pscustomobject]@{ Kind = 'Text'; Lang = ''; Lines = @($para) }); $para.Clear() }
        }
        else {
            $para.Add($line)
        }
        $i++
    }
    if ($para.Count) { $blocks.Add([pscustomobject]@{ Kind = 'Text'; Lang = ''; Lines = @($para) }) }
    return , $blocks
}

function Format-Inline([string] $Text) {
    # Bold markers go (they are noise in a console); links keep their text, and the address when it is absolute.
    $t = [regex]::Replace($Text, '\*\*(.+?)\*\*', '$1')
    $t = [regex]::Replace($t, '\[([^\]]+)\]\(([^)\s]+)\)', {
            param($m)
            if ($m.Groups[2].Value -match '^https?://') { '{0} ({1})' -f $m.Groups[1].Value, $m.Groups[2].Value } else { $m.Groups[1].Value }
        })
    return $t
}

function Join-ParagraphLine([string[]] $Lines) {
    # One paragraph's text. Plain lines are joined with spaces; list items, table rows and quoted
    # lines each start a new line so lists and tables survive.
    $out = [System.Collections.Generic.List[string]]::new()
    foreach ($raw in $Lines) {
        $t = $raw.Trim()
        if ($t.StartsWith('>')) { $t = $t.TrimStart('>').Trim() }
        $startsLine = $out.Count -eq 0 -or $t -match '^([-*+]|\d+\.)\s' -or $t.StartsWith('|')
        if ($startsLine) { $out.Add($t) } else { $out[$out.Count - 1] = $out[$out.Count - 1] + ' ' + $t }
    }
    return Format-Inline ($out -join "`n")
}

function Get-Paragraph($Blocks) {
    # MAML paragraphs from blocks: each text block one paragraph, each code block one verbatim paragraph.
    foreach ($b in $Blocks) {
        if ($b.Kind -eq 'Text') { Join-ParagraphLine $b.Lines }
        elseif ($b.Kind -eq 'Code' -and $b.Lang -ne 'yaml') { $b.Lines -join "`n" }
    }
}

function Test-Placeholder([string] $Text) {
    return [string]::IsNullOrWhiteSpace($Text) -or $Text -match '\{\{.*\}\}'
}

#endregion

#region Module metadata

function Get-TypeName([type] $Type) {
    if ($Type.IsArray) { return (Get-TypeName $Type.GetElementType()) + '[]' }
    if ($Type.IsGenericType) {
        $name = $Type.GetGenericTypeDefinition().FullName -replace '`\d+$', ''
        return '{0}[{1}]' -f $name, (($Type.GetGenericArguments() | ForEach-Object { Get-TypeName $_ }) -join ',')
    }
    return $Type.FullName
}

function Get-ParameterOrder($SetParameter) {
    # The order PowerShell's own syntax uses: positional by position, then mandatory named, then the rest.
    $index = 0
    $SetParameter | ForEach-Object {
        $group = if ($_.Position -ge 0) { 0 } elseif ($_.IsMandatory) { 1 } else { 2 }
        [pscustomobject]@{ P = $_; Group = $group; Position = $_.Position; Index = $index++ }
    } | Sort-Object Group, Position, Index | ForEach-Object P
}

function Get-CommandModel([System.Management.Automation.CommandInfo] $Command) {
    # What the module says about a cmdlet: its sets (default first) and each parameter's metadata.
    $sets = @($Command.ParameterSets | Sort-Object { -not $_.IsDefault }, { [array]::IndexOf(@($Command.ParameterSets), $_) })
    $setOrder = @($sets | ForEach-Object Name)
    $params = [ordered]@{}
    $names = @($Command.Parameters.Keys | Where-Object { $_ -notin $Common -and $_ -ne 'UseTransaction' } | Sort-Object { $_.ToLowerInvariant() })
    foreach ($name in $names) {
        $meta = $Command.Parameters[$name]
        $inSets = foreach ($set in $sets) {
            $p = $set.Parameters | Where-Object Name -EQ $name
            if ($p) { [pscustomobject]@{ Set = $set.Name; Info = $p } }
        }
        $allSets = $meta.ParameterSets.ContainsKey('__AllParameterSets')
        $params[$name] = [pscustomobject]@{
            Name              = $name
            Type              = $meta.ParameterType
            TypeName          = Get-TypeName $meta.ParameterType
            IsSwitch          = $meta.SwitchParameter
            Aliases           = @($meta.Aliases | Sort-Object)
            Wildcards         = [bool]($meta.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            AcceptedValues    = @($meta.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object ValidValues)
            Sets              = @($inSets)
            InAllSets         = $allSets
            IsShouldProcess   = $name -in $ShouldProcessParameters
        }
    }
    return [pscustomobject]@{ Name = $Command.Name; Command = $Command; Sets = $sets; SetOrder = $setOrder; Parameters = $params }
}

function Get-PipelineInput($Infos) {
    $byValue = [bool]($Infos | Where-Object ValueFromPipeline)
    $byName = [bool]($Infos | Where-Object ValueFromPipelineByPropertyName)
    if ($byValue -and $byName) { return 'True (ByPropertyName, ByValue)' }
    if ($byValue) { return 'True (ByValue)' }
    if ($byName) { return 'True (ByPropertyName)' }
    return 'False'
}

function Get-ExpectedYaml($Param) {
    # The yaml block platyPS v2 would write for this parameter, from the module.
    $sb = [System.Text.StringBuilder]::new()
    $null = $sb.Append("Type: $($Param.TypeName)`n")
    $null = $sb.Append("DefaultValue: $(if ($Param.IsSwitch) { 'False' } else { 'None' })`n")
    $null = $sb.Append("SupportsWildcards: $($Param.Wildcards.ToString().ToLowerInvariant())`n")
    if ($Param.Aliases.Count) { $null = $sb.Append("Aliases:`n"); foreach ($a in $Param.Aliases) { $null = $sb.Append("- $a`n") } }
    else { $null = $sb.Append("Aliases: []`n") }
    $null = $sb.Append("ParameterSets:`n")
    $entries = if ($Param.InAllSets) { @([pscustomobject]@{ Set = '(All)'; Info = $Param.Sets[0].Info }) } else { $Param.Sets }
    foreach ($e in $entries) {
        $null = $sb.Append("- Name: $($e.Set)`n")
        $null = $sb.Append("  Position: $(if ($e.Info.Position -ge 0) { $e.Info.Position } else { 'Named' })`n")
        $null = $sb.Append("  IsRequired: $($e.Info.IsMandatory.ToString().ToLowerInvariant())`n")
        $null = $sb.Append("  ValueFromPipeline: $($e.Info.ValueFromPipeline.ToString().ToLowerInvariant())`n")
        $null = $sb.Append("  ValueFromPipelineByPropertyName: $($e.Info.ValueFromPipelineByPropertyName.ToString().ToLowerInvariant())`n")
        $null = $sb.Append("  ValueFromRemainingArguments: $($e.Info.ValueFromRemainingArguments.ToString().ToLowerInvariant())`n")
    }
    $null = $sb.Append("DontShow: false`n")
    if ($Param.AcceptedValues.Count) { $null = $sb.Append("AcceptedValues:`n"); foreach ($v in $Param.AcceptedValues) { $null = $sb.Append("- $v`n") } }
    else { $null = $sb.Append("AcceptedValues: []`n") }
    $null = $sb.Append("HelpMessage: ''`n")
    return $sb.ToString()
}

function Get-YamlFingerprint($Yaml) {
    # The fields the module owns, in a comparable form.
    $sets = @(foreach ($s in @($Yaml['ParameterSets'])) {
            if ($s -is [System.Collections.IDictionary]) {
                '{0}|{1}|{2}|{3}|{4}' -f $s['Name'], $s['Position'], $s['IsRequired'], $s['ValueFromPipeline'], $s['ValueFromPipelineByPropertyName']
            }
        })
    $aliases = @($Yaml['Aliases']) | Where-Object { $_ -is [string] } | Sort-Object
    return ('Type={0}; SupportsWildcards={1}; Aliases={2}; ParameterSets={3}' -f $Yaml['Type'], "$($Yaml['SupportsWildcards'])".ToLowerInvariant(), ($aliases -join ','), ($sets -join ' / ')).ToLowerInvariant()
}

function Get-SyntaxText($Model) {
    foreach ($set in $Model.Sets) { '{0} {1}' -f $Model.Name, $set.ToString() }
}

#endregion

#region Cmdlet pages

function Read-CommandPage([string] $Path, $Model) {
    # Reads one cmdlet page into the help model, collecting every problem instead of stopping at the first.
    $problems = [System.Collections.Generic.List[string]]::new()
    $warnings = [System.Collections.Generic.List[string]]::new()
    $doc = Read-Markdown $Path
    $name = $Model.Name

    $expectedMeta = [ordered]@{ 'document type' = 'cmdlet'; 'external help file' = $HelpFileName; 'Module Name' = 'ColoPS'; 'Locale' = 'en-US'; 'title' = $name }
    foreach ($k in $expectedMeta.Keys) {
        if (-not $doc.Meta.Contains($k)) { $problems.Add("the front matter has no '$k' (expected '$($expectedMeta[$k])')") }
        elseif ($doc.Meta[$k] -ne $expectedMeta[$k]) { $problems.Add("the front matter says '${k}: $($doc.Meta[$k])', expected '$($expectedMeta[$k])'") }
    }
    if ($doc.Meta.Contains('PlatyPS schema version') -and $doc.Meta['PlatyPS schema version'] -ne $SchemaVersion) {
        $warnings.Add("PlatyPS schema version is '$($doc.Meta['PlatyPS schema version'])', this tool reads $SchemaVersion")
    }
    if ($doc.Title -ne $name) { $problems.Add("the '# ' title is '$($doc.Title)', expected '$name'") }

    function Section([string] $Key) { if ($doc.Sections.Contains($Key)) { $doc.Sections[$Key] } else { $null } }

    # Skeleton placeholders left anywhere in the prose (outside code blocks).
    foreach ($sec in $doc.Sections.Values) {
        $texts = @($sec.Lines) + @(foreach ($sub in $sec.Subs) { "### $($sub.Title)"; $sub.Lines })
        $fenced = $false
        foreach ($line in $texts) {
            if ($line -match '^\s*(```|~~~)') { $fenced = -not $fenced; continue }
            if (-not $fenced -and $line -match '\{\{.*?\}\}') {
                $message = "## $($sec.Title) still has the placeholder '$($Matches[0])'"
                if (-not $problems.Contains($message)) { $problems.Add($message) }
            }
        }
    }

    # Synopsis: one paragraph.
    $synopsis = ''
    $s = Section 'SYNOPSIS'
    if ($s) { $synopsis = (@(Get-Paragraph (ConvertTo-Block $s.Lines)) -join ' ').Replace("`n", ' ').Trim() }
    if (Test-Placeholder $synopsis) { $problems.Add('## SYNOPSIS is missing or empty') }

    # Description: paragraphs, subsections folded in.
    $description = @()
    $s = Section 'DESCRIPTION'
    if ($s) {
        $description = @(Get-Paragraph (ConvertTo-Block $s.Lines))
        foreach ($sub in $s.Subs) { $description += $sub.Title.ToUpperInvariant(); $description += @(Get-Paragraph (ConvertTo-Block $sub.Lines)) }
    }
    if (-not $description.Count -or (Test-Placeholder ($description -join ' '))) { $problems.Add('## DESCRIPTION is missing or empty') }

    # Syntax: generated from the module; the page's copy is only compared.
    $s = Section 'SYNTAX'
    if ($s) {
        $pageSyntax = @(foreach ($sub in $s.Subs) { foreach ($b in (ConvertTo-Block $sub.Lines)) { if ($b.Kind -eq 'Code') { ($b.Lines | ForEach-Object Trim) -join ' ' } } })
        $moduleSyntax = @(Get-SyntaxText $Model)
        if (($pageSyntax -join "`n") -ne ($moduleSyntax -join "`n")) {
            $warnings.Add("## SYNTAX differs from the module; the module's is:`n  " + ($moduleSyntax -join "`n  "))
        }
    }
    else { $warnings.Add('## SYNTAX is missing (the MAML syntax comes from the module anyway)') }

    # Examples.
    $examples = [System.Collections.Generic.List[object]]::new()
    $s = Section 'EXAMPLES'
    if ($s) {
        foreach ($sub in $s.Subs) {
            $blocks = ConvertTo-Block $sub.Lines
            $code = @($blocks | Where-Object { $_.Kind -eq 'Code' -and $_.Lang -in 'powershell', 'pwsh', 'ps1', 'ps', '' } | ForEach-Object { $_.Lines -join "`n" })
            # Get-Help shows the code, then the remarks: the output first, so it sits under the code, then the text.
            $remarks = [System.Collections.Generic.List[string]]::new()
            foreach ($b in $blocks) { if ($b.Kind -eq 'Code' -and $b.Lang -eq 'output') { $remarks.Add(($b.Lines -join "`n")) } }
            foreach ($b in $blocks) { if ($b.Kind -eq 'Text') { $remarks.Add((Join-ParagraphLine $b.Lines)) } }
            if (-not $code.Count -or (Test-Placeholder ($code -join ''))) { $problems.Add("the example '$($sub.Title)' has no powershell code block"); continue }
            $examples.Add([pscustomobject]@{ Title = $sub.Title; Code = $code -join "`n`n"; Remarks = @($remarks) })
        }
    }
    if (-not $examples.Count) { $problems.Add('## EXAMPLES has no example (### Example 1: title, text, a ```powershell block)') }

    # Parameters: descriptions from the page, metadata from the module.
    $pageParams = [ordered]@{}
    $s = Section 'PARAMETERS'
    if ($s) {
        foreach ($sub in $s.Subs) {
            if ($sub.Title -eq 'CommonParameters') { continue }
            if ($sub.Title -notmatch '^-(\w+)$') { $problems.Add("## PARAMETERS has a subsection '### $($sub.Title)'; expected '### -Name'"); continue }
            $pname = $Matches[1]
            $blocks = ConvertTo-Block $sub.Lines
            $yamlBlock = $blocks | Where-Object { $_.Kind -eq 'Code' -and $_.Lang -eq 'yaml' } | Select-Object -First 1
            $yaml = if ($yamlBlock) { try { ConvertFrom-SimpleYaml $yamlBlock.Lines } catch { $problems.Add("-${pname}: $($_.Exception.Message)"); [ordered]@{} } } else { [ordered]@{} }
            $pageParams[$pname] = [pscustomobject]@{ Description = @(Get-Paragraph ($blocks | Where-Object Kind -EQ 'Text')); Yaml = $yaml; HasYaml = [bool]$yamlBlock }
        }
    }
    foreach ($pname in $pageParams.Keys) {
        if (-not $Model.Parameters.Contains($pname)) { $problems.Add("### -$pname documents a parameter the cmdlet does not have") }
    }
    $parameters = [ordered]@{}
    foreach ($p in $Model.Parameters.Values) {
        $page = $pageParams[$p.Name]
        $desc = @(if ($page) { $page.Description })
        if (-not $desc.Count -or (Test-Placeholder ($desc -join ' '))) {
            if ($p.IsShouldProcess) { $desc = @($DefaultDescriptions[$p.Name]) }
            else { $problems.Add("-$($p.Name) has no description (add '### -$($p.Name)' with text under ## PARAMETERS)"); continue }
        }
        $default = if ($p.IsSwitch) { 'False' } else { 'None' }
        if ($page -and $page.Yaml.Contains('DefaultValue') -and $page.Yaml['DefaultValue'] -is [string] -and $page.Yaml['DefaultValue'] -ne '') { $default = $page.Yaml['DefaultValue'] }
        if ($page -and $page.HasYaml) {
            $want = Get-YamlFingerprint (ConvertFrom-SimpleYaml ((Get-ExpectedYaml $p).TrimEnd("`n").Split("`n")))
            $have = Get-YamlFingerprint $page.Yaml
            if ($want -ne $have) { $warnings.Add("-$($p.Name): the yaml block differs from the module. Expected:`n$(Get-ExpectedYaml $p)") }
        }
        $parameters[$p.Name] = [pscustomobject]@{ Model = $p; Description = $desc; Default = $default }
    }

    # Inputs and outputs: one ### per type.
    $io = @{}
    foreach ($key in 'INPUTS', 'OUTPUTS') {
        $list = [System.Collections.Generic.List[object]]::new()
        $s = Section $key
        if ($s) {
            foreach ($sub in $s.Subs) { $list.Add([pscustomobject]@{ Type = $sub.Title; Description = @(Get-Paragraph (ConvertTo-Block $sub.Lines)) }) }
        }
        if (-not $list.Count) { $problems.Add("## $key has no '### TypeName' entry (write '### None' when there is nothing)") }
        $io[$key] = $list
    }

    $notes = @()
    $s = Section 'NOTES'
    if ($s) { $notes = @(Get-Paragraph (ConvertTo-Block $s.Lines)) }

    $links = [System.Collections.Generic.List[object]]::new()
    $s = Section 'RELATED LINKS'
    if ($s) {
        foreach ($line in $s.Lines) {
            if ($line -match '^\s*[-*]\s*\[([^\]]+)\]\(([^)]*)\)') {
                $uri = if ($Matches[2] -match '^https?://') { $Matches[2] } else { '' }
                $links.Add([pscustomobject]@{ Text = $Matches[1]; Uri = $uri })
            }
        }
    }
    $helpUri = if ($doc.Meta.Contains('HelpUri')) { $doc.Meta['HelpUri'] } else { '' }
    if ($helpUri -match '^https?://') { $links.Insert(0, [pscustomobject]@{ Text = 'Online Version:'; Uri = $helpUri }) }

    return [pscustomobject]@{
        Name = $name; Model = $Model; Synopsis = Format-Inline $synopsis; Description = $description; Examples = $examples
        Parameters = $parameters; Inputs = $io['INPUTS']; Outputs = $io['OUTPUTS']; Notes = $notes; Links = $links
        Problems = $problems; Warnings = $warnings
    }
}

#endregion

#region MAML writing

function Write-Para([System.Xml.XmlWriter] $W, [string[]] $Paragraphs) {
    $W.WriteStartElement('maml', 'description', $MamlNs)
    $any = $false
    foreach ($p in $Paragraphs) {
        if ($null -eq $p) { continue }
        $W.WriteElementString('maml', 'para', $MamlNs, $p)
        $any = $true
    }
    if (-not $any) { $W.WriteElementString('maml', 'para', $MamlNs, '') }
    $W.WriteEndElement()
}

function Write-Parameter([System.Xml.XmlWriter] $W, $Param, [string] $Position, [bool] $Required, [string] $PipelineInput) {
    $m = $Param.Model
    $W.WriteStartElement('command', 'parameter', $CommandNs)
    $W.WriteAttributeString('required', $Required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', $m.Type.IsArray.ToString().ToLowerInvariant())
    $W.WriteAttributeString('globbing', $m.Wildcards.ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $PipelineInput)
    $W.WriteAttributeString('position', $Position)
    $W.WriteAttributeString('aliases', $(if ($m.Aliases.Count) { $m.Aliases -join ', ' } else { 'none' }))
    $W.WriteElementString('maml', 'name', $MamlNs, $m.Name)
    Write-Para $W $Param.Description
    if ($m.AcceptedValues.Count) {
        $W.WriteStartElement('command', 'parameterValueGroup', $CommandNs)
        foreach ($v in $m.AcceptedValues) {
            $W.WriteStartElement('command', 'parameterValue', $CommandNs)
            $W.WriteAttributeString('required', 'false')
            $W.WriteAttributeString('command', 'variableLength', $CommandNs, 'false')
            $W.WriteString($v)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    if (-not $m.IsSwitch) {
        $W.WriteStartElement('command', 'parameterValue', $CommandNs)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', $m.Type.IsArray.ToString().ToLowerInvariant())
        $W.WriteString($m.TypeName)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $DevNs)
    $W.WriteElementString('maml', 'name', $MamlNs, $m.TypeName)
    $W.WriteElementString('maml', 'uri', $MamlNs, '')
    $W.WriteEndElement()
    $W.WriteElementString('dev', 'defaultValue', $DevNs, $Param.Default)
    $W.WriteEndElement()
}

function Write-TypeList([System.Xml.XmlWriter] $W, [string] $ListName, [string] $ItemName, $Items) {
    $W.WriteStartElement('command', $ListName, $CommandNs)
    foreach ($item in $Items) {
        $W.WriteStartElement('command', $ItemName, $CommandNs)
        $W.WriteStartElement('dev', 'type', $DevNs)
        $W.WriteElementString('maml', 'name', $MamlNs, $item.Type)
        $W.WriteElementString('maml', 'uri', $MamlNs, '')
        $W.WriteEndElement()
        Write-Para $W $item.Description
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
}

function Write-Command([System.Xml.XmlWriter] $W, $Help) {
    $verb, $noun = $Help.Name.Split('-', 2)
    $W.WriteStartElement('command', 'command', $CommandNs)
    $W.WriteAttributeString('xmlns', 'maml', $null, $MamlNs)
    $W.WriteAttributeString('xmlns', 'command', $null, $CommandNs)
    $W.WriteAttributeString('xmlns', 'dev', $null, $DevNs)
    $W.WriteAttributeString('xmlns', 'MSHelp', $null, $MSHelpNs)

    # 0 details
    $W.WriteStartElement('command', 'details', $CommandNs)
    $W.WriteElementString('command', 'name', $CommandNs, $Help.Name)
    $W.WriteElementString('command', 'verb', $CommandNs, $verb)
    $W.WriteElementString('command', 'noun', $CommandNs, $noun)
    Write-Para $W @($Help.Synopsis)
    $W.WriteEndElement()

    # 1 description
    Write-Para $W $Help.Description

    # 2 syntax: one item per parameter set, only that set's parameters
    $W.WriteStartElement('command', 'syntax', $CommandNs)
    foreach ($set in $Help.Model.Sets) {
        $W.WriteStartElement('command', 'syntaxItem', $CommandNs)
        $W.WriteElementString('maml', 'name', $MamlNs, $Help.Name)
        $inSet = @($set.Parameters | Where-Object { $Help.Parameters.Contains($_.Name) })
        foreach ($info in (Get-ParameterOrder $inSet)) {
            $pos = if ($info.Position -ge 0) { [string]$info.Position } else { 'named' }
            Write-Parameter $W $Help.Parameters[$info.Name] $pos $info.IsMandatory (Get-PipelineInput @($info))
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # 3 parameters: one entry each. Position from the first set that gives one; required when
    # mandatory in every set it belongs to; pipeline input the union over its sets.
    $W.WriteStartElement('command', 'parameters', $CommandNs)
    foreach ($param in $Help.Parameters.Values) {
        $infos = @($param.Model.Sets | ForEach-Object Info)
        $positional = $infos | Where-Object { $_.Position -ge 0 } | Select-Object -First 1
        $pos = if ($positional) { [string]$positional.Position } else { 'named' }
        $required = $infos.Count -gt 0 -and -not ($infos | Where-Object { -not $_.IsMandatory })
        Write-Parameter $W $param $pos $required (Get-PipelineInput $infos)
    }
    $W.WriteEndElement()

    # 4 inputs, 5 outputs
    Write-TypeList $W 'inputTypes' 'inputType' $Help.Inputs
    Write-TypeList $W 'returnValues' 'returnValue' $Help.Outputs

    # 6 notes
    $W.WriteStartElement('maml', 'alertSet', $MamlNs)
    $W.WriteStartElement('maml', 'alert', $MamlNs)
    if ($Help.Notes.Count) { foreach ($n in $Help.Notes) { $W.WriteElementString('maml', 'para', $MamlNs, $n) } }
    else { $W.WriteElementString('maml', 'para', $MamlNs, '') }
    $W.WriteEndElement()
    $W.WriteEndElement()

    # 7 examples
    $W.WriteStartElement('command', 'examples', $CommandNs)
    foreach ($ex in $Help.Examples) {
        $W.WriteStartElement('command', 'example', $CommandNs)
        $W.WriteElementString('maml', 'title', $MamlNs, "--------- $($ex.Title) ---------")
        $W.WriteElementString('dev', 'code', $DevNs, $ex.Code)
        $W.WriteStartElement('dev', 'remarks', $DevNs)
        foreach ($r in $ex.Remarks) { $W.WriteElementString('maml', 'para', $MamlNs, $r) }
        # An empty last paragraph: Get-Help then leaves a blank line before the next example.
        $W.WriteElementString('maml', 'para', $MamlNs, '')
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # 8 related links
    $W.WriteStartElement('command', 'relatedLinks', $CommandNs)
    foreach ($l in $Help.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $MamlNs)
        $W.WriteElementString('maml', 'linkText', $MamlNs, $l.Text)
        $W.WriteElementString('maml', 'uri', $MamlNs, $l.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement()
}

function ConvertTo-MamlBytes($Helps) {
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.NewLineChars = "`n"
    $settings.NewLineHandling = [System.Xml.NewLineHandling]::Replace
    $stream = [System.IO.MemoryStream]::new()
    $w = [System.Xml.XmlWriter]::Create($stream, $settings)
    try {
        $w.WriteStartDocument()
        $w.WriteStartElement('helpItems', 'http://msh')
        $w.WriteAttributeString('schema', 'maml')
        foreach ($h in $Helps) { Write-Command $w $h }
        $w.WriteEndElement()
        $w.WriteEndDocument()
        $w.Flush()
        $stream.WriteByte(10)
        return , $stream.ToArray()
    }
    finally {
        $w.Dispose()
    }
}

#endregion

#region About topics

function Format-Wrapped([string] $Text, [int] $Indent, [int] $HangingIndent = $Indent, [int] $Width = 80) {
    $words = $Text -split '\s+' | Where-Object { $_ -ne '' }
    $lines = [System.Collections.Generic.List[string]]::new()
    $current = ' ' * $Indent
    $empty = $true
    foreach ($word in $words) {
        if (-not $empty -and ($current.Length + 1 + $word.Length) -gt $Width) {
            $lines.Add($current)
            $current = (' ' * $HangingIndent) + $word
        }
        elseif ($empty) { $current += $word }
        else { $current += ' ' + $word }
        $empty = $false
    }
    if (-not $empty) { $lines.Add($current) }
    return $lines
}

function ConvertTo-AboutText([string] $Path) {
    # A plain-text about topic: TOPIC header, '##' as upper-case headings, text wrapped at 80 columns
    # with a 4-space indent, '###' as underlined sub-headings, code indented 8.
    $doc = Read-Markdown $Path
    $name = [System.IO.Path]::GetFileNameWithoutExtension($Path)
    if ($doc.Title -ne $name) { throw "${Path}: the '# ' title is '$($doc.Title)', expected '$name'." }
    $short = if ($doc.Sections.Contains('SHORT DESCRIPTION')) { $doc.Sections['SHORT DESCRIPTION'] } else { $null }
    if (-not $short -or -not (ConvertTo-Block $short.Lines).Count) { throw "${Path}: '## Short description' is missing or empty." }
    if (-not $doc.Sections.Contains('LONG DESCRIPTION')) { throw "${Path}: '## Long description' is missing." }

    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC')
    $out.Add("    $name")

    function Add-Body($Lines) {
        foreach ($b in (ConvertTo-Block $Lines)) {
            $out.Add('')
            if ($b.Kind -eq 'Code') {
                foreach ($l in $b.Lines) { $out.Add($(if ($l) { '        ' + $l } else { '' })) }
                continue
            }
            $text = Join-ParagraphLine $b.Lines
            foreach ($line in $text.Split("`n")) {
                if ($line.StartsWith('|')) { $out.Add('    ' + $line); continue }
                if ($line -match '^([-*+]|\d+\.)\s+(.*)$') {
                    # Take the groups first: the -match below would replace $Matches.
                    $bullet, $itemText = $Matches[1], $Matches[2]
                    $marker = if ($bullet -match '^\d') { $bullet } else { '-' }
                    foreach ($l in (Format-Wrapped "$marker $itemText" 4 (5 + $marker.Length))) { $out.Add($l) }
                    continue
                }
                foreach ($l in (Format-Wrapped $line 4)) { $out.Add($l) }
            }
        }
    }

    foreach ($section in $doc.Sections.Values) {
        $out.Add('')
        $out.Add($section.Title.ToUpperInvariant())
        Add-Body $section.Lines
        foreach ($sub in $section.Subs) {
            $out.Add('')
            $out.Add('  ' + $sub.Title)
            $out.Add('  ' + ('-' * $sub.Title.Length))
            Add-Body $sub.Lines
        }
    }
    $text = ($out | ForEach-Object { $_.TrimEnd() }) -join "`n"
    return [System.Text.UTF8Encoding]::new($false).GetBytes($text + "`n")
}

#endregion

#region Skeleton pages

function New-Skeleton($Model) {
    $f = '```'
    $nl = "`n"
    $sb = [System.Text.StringBuilder]::new()
    $null = $sb.Append("---${nl}document type: cmdlet${nl}external help file: $HelpFileName${nl}HelpUri: ''${nl}Locale: en-US${nl}Module Name: ColoPS${nl}PlatyPS schema version: $SchemaVersion${nl}title: $($Model.Name)${nl}---${nl}${nl}")
    $null = $sb.Append("# $($Model.Name)${nl}${nl}## SYNOPSIS${nl}${nl}{{ One sentence: what the cmdlet does. }}${nl}${nl}## SYNTAX${nl}${nl}")
    foreach ($set in $Model.Sets) {
        $null = $sb.Append("### $($set.Name)$(if ($set.IsDefault) { ' (Default)' })${nl}${nl}${f}${nl}$($Model.Name) $($set.ToString())${nl}${f}${nl}${nl}")
    }
    $null = $sb.Append("## ALIASES${nl}${nl}This cmdlet has no aliases.${nl}${nl}## DESCRIPTION${nl}${nl}{{ What it does, how, what can go wrong (error ids), timeouts. }}${nl}${nl}")
    $null = $sb.Append("## EXAMPLES${nl}${nl}### Example 1: {{ title }}${nl}${nl}{{ What the example shows. }}${nl}${nl}${f}powershell${nl}{{ code }}${nl}${f}${nl}${nl}")
    $null = $sb.Append("### Example 2: {{ runbook style, -ErrorAction Stop and try/catch on FullyQualifiedErrorId }}${nl}${nl}{{ text }}${nl}${nl}${f}powershell${nl}{{ code }}${nl}${f}${nl}${nl}## PARAMETERS${nl}${nl}")
    foreach ($p in $Model.Parameters.Values) {
        $text = if ($p.IsShouldProcess) { $DefaultDescriptions[$p.Name] } else { '{{ What the parameter does, its default and range. }}' }
        $null = $sb.Append("### -$($p.Name)${nl}${nl}$text${nl}${nl}${f}yaml${nl}$(Get-ExpectedYaml $p)${f}${nl}${nl}")
    }
    $null = $sb.Append("### CommonParameters${nl}${nl}This cmdlet supports the common parameters -Debug, -ErrorAction, -ErrorVariable,${nl}-InformationAction, -InformationVariable, -OutBuffer, -OutVariable, -PipelineVariable,${nl}-ProgressAction, -Verbose, -WarningAction and -WarningVariable. See${nl}[about_CommonParameters](https://go.microsoft.com/fwlink/?LinkID=113216).${nl}${nl}")
    $null = $sb.Append("## INPUTS${nl}${nl}### {{ TypeName, or None }}${nl}${nl}{{ text }}${nl}${nl}## OUTPUTS${nl}${nl}### {{ TypeName }}${nl}${nl}{{ text }}${nl}${nl}## NOTES${nl}${nl}{{ notes }}${nl}${nl}## RELATED LINKS${nl}${nl}- [about_ColoPS](about_ColoPS.md)${nl}")
    return $sb.ToString()
}

#endregion

#region Main

$resolvedModule = (Resolve-Path -LiteralPath $ModulePath -ErrorAction Stop).ProviderPath
$moduleBase = [System.IO.Path]::GetDirectoryName($resolvedModule)
foreach ($m in @(Get-Module ColoPS)) {
    if ([System.IO.Path]::GetFullPath($m.ModuleBase).TrimEnd('/', '\') -ne [System.IO.Path]::GetFullPath($moduleBase).TrimEnd('/', '\')) {
        throw "A ColoPS module from '$($m.ModuleBase)' is already loaded in this session; its assembly cannot be replaced by '$resolvedModule'. Run the generator in a fresh pwsh."
    }
}
# Imported into this script's scope only; an import the caller already made is reused.
$module = Import-Module -Name $resolvedModule -PassThru -Scope Local -ErrorAction Stop -Verbose:$false | Where-Object Name -EQ 'ColoPS' | Select-Object -First 1
if (-not $module) { throw "'$resolvedModule' did not load a module named ColoPS." }
# Only what the loaded module really exports (the manifest may list cmdlets not written yet).
$commands = @($module.ExportedCmdlets.Values | Sort-Object Name)
$models = [ordered]@{}
foreach ($c in $commands) { $models[$c.Name] = Get-CommandModel $c }

$markdownRoot = (Resolve-Path -LiteralPath $MarkdownPath -ErrorAction Stop).ProviderPath

if ($PSCmdlet.ParameterSetName -eq 'NewPage') {
    foreach ($n in $NewPage) {
        if (-not $models.Contains($n)) { throw "'$n' is not a cmdlet of the module at '$resolvedModule' (it has: $($models.Keys -join ', '))." }
        $target = Join-Path $markdownRoot "$n.md"
        if (Test-Path -LiteralPath $target) { Write-Warning "$target exists; not overwritten."; continue }
        [System.IO.File]::WriteAllText($target, (New-Skeleton $models[$n]), [System.Text.UTF8Encoding]::new($false))
        Write-Host "Wrote $target; replace every {{ placeholder }} before building help."
    }
    return
}

$pages = @{}
foreach ($f in (Get-ChildItem -LiteralPath $markdownRoot -Filter '*.md' -File | Sort-Object Name)) {
    $base = [System.IO.Path]::GetFileNameWithoutExtension($f.Name)
    if ($base -like 'about_*') { continue }
    if ($base -notmatch '^\w+-\w+$') { Write-Warning "$($f.FullName): not a Verb-Noun page or an about_ topic; ignored."; continue }
    if (-not $models.Contains($base)) { Write-Warning "$($f.FullName): the loaded module has no cmdlet '$base'; page skipped."; continue }
    $pages[$base] = $f.FullName
}

$problems = [System.Collections.Generic.List[string]]::new()
$helps = [System.Collections.Generic.List[object]]::new()
foreach ($name in $models.Keys) {
    if (-not $pages.ContainsKey($name)) {
        $problems.Add("$name has no help page: create $(Join-Path $markdownRoot "$name.md") (tools/New-ColoMaml.ps1 -NewPage $name writes a skeleton).")
        continue
    }
    try {
        $help = Read-CommandPage $pages[$name] $models[$name]
    }
    catch {
        $problems.Add("$($pages[$name]): $($_.Exception.Message) (New-ColoMaml.ps1 line $($_.InvocationInfo.ScriptLineNumber))")
        continue
    }
    foreach ($w in $help.Warnings) { Write-Warning "$($pages[$name]): $w" }
    foreach ($p in $help.Problems) { $problems.Add("$($pages[$name]): $p") }
    $helps.Add($help)
}
if ($problems.Count) {
    throw "Help was not generated; fix these $($problems.Count) problem(s):`n  " + ($problems -join "`n  ")
}

$abouts = [ordered]@{}
foreach ($f in (Get-ChildItem -LiteralPath $markdownRoot -Filter 'about_*.md' -File | Sort-Object Name)) {
    $abouts[[System.IO.Path]::GetFileNameWithoutExtension($f.Name) + '.help.txt'] = ConvertTo-AboutText $f.FullName
}

$null = New-Item -ItemType Directory -Path $OutputPath -Force
$outputRoot = (Resolve-Path -LiteralPath $OutputPath).ProviderPath
$mamlPath = Join-Path $outputRoot $HelpFileName
[System.IO.File]::WriteAllBytes($mamlPath, (ConvertTo-MamlBytes $helps))
Write-Verbose "Wrote $mamlPath ($($helps.Count) cmdlets)."
foreach ($k in $abouts.Keys) {
    [System.IO.File]::WriteAllBytes((Join-Path $outputRoot $k), $abouts[$k])
    Write-Verbose "Wrote $(Join-Path $outputRoot $k)."
}

#endregion
