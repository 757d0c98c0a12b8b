# Desktop shortcuts for the per-user install: "Kakehashi-encode" (drop an export on it)
# and "Kakehashi-command" (a prompt where `kakehashi` works). ASCII only.
param([Parameter(Mandatory = $true)][string]$Action, [Parameter(Mandatory = $true)][string]$Target)
$ErrorActionPreference = 'Stop'
$desktop = [Environment]::GetFolderPath('Desktop')
$shell = New-Object -ComObject WScript.Shell
$encode = Get-ChildItem -LiteralPath $Target -Filter '*.bat' | Where-Object { $_.Name -notmatch '^(kakehashi-cmd|uninstall|install)\.bat$' } | Select-Object -First 1
$links = @(
    @{ Name = 'Kakehashi-encode.lnk'; Path = $encode.FullName },
    @{ Name = 'Kakehashi-command.lnk'; Path = (Join-Path $Target 'kakehashi-cmd.bat') }
)
foreach ($link in $links) {
    $lnk = $shell.CreateShortcut((Join-Path $desktop $link.Name))
    $lnk.TargetPath = $link.Path
    $lnk.WorkingDirectory = $Target
    $lnk.Save()
}
exit 0
