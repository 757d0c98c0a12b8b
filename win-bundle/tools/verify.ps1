# Checks every file of the unpacked bundle against SHA256SUMS ("<sha256>  <path>", UTF-8).
# Exit 0: all match; 1: a file is missing, extra or different. ASCII only (PowerShell 5.1
# reads a script without a byte-order mark in the ANSI code page).
param([Parameter(Mandatory = $true)][string]$Bundle)
$ErrorActionPreference = 'Stop'
$Bundle = (Resolve-Path -LiteralPath $Bundle).Path
$sums = Join-Path $Bundle 'SHA256SUMS'
if (-not (Test-Path -LiteralPath $sums)) { Write-Host '  SHA256SUMS not found'; exit 1 }
$bad = 0
$listed = @{}
foreach ($line in [System.IO.File]::ReadAllLines($sums, [System.Text.Encoding]::UTF8)) {
    if ($line -notmatch '^([0-9a-f]{64})  (.+)$') { continue }
    $hash = $Matches[1]; $rel = $Matches[2]
    $listed[$rel.Replace('/', '\')] = $true
    $path = Join-Path $Bundle ($rel.Replace('/', '\'))
    if (-not (Test-Path -LiteralPath $path)) { Write-Host "  missing: $rel"; $bad++; continue }
    $actual = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
    if ($actual -ne $hash) { Write-Host "  changed: $rel"; $bad++ }
}
Get-ChildItem -LiteralPath $Bundle -Recurse -File | ForEach-Object {
    $rel = $_.FullName.Substring($Bundle.TrimEnd('\').Length + 1)
    if ($rel -ne 'SHA256SUMS' -and -not $listed.ContainsKey($rel)) { Write-Host "  not listed: $rel"; $bad++ }
}
if ($bad -gt 0) { exit 1 }
Write-Host ("  OK: {0} files match SHA256SUMS" -f $listed.Count)
exit 0
