# A short tour of LayerTools: a store with the host's best driver, a base layer, a child on top of it, mounts and refusals.
# Runs in pwsh 7 (./demo/tour.ps1) and in the bundled host (dotnet run --project src/LayerTools.Shell -- demo/tour.ps1).
# Needs root: layers are mounted for real.
$ErrorActionPreference = 'Stop'
Import-Module "$PSScriptRoot/../LayerTools.psd1"
$r = "/var/tmp/layertools-tour"
function Step([string] $text) { $Host.UI.WriteLine(""); $Host.UI.WriteLine("PS> $text") }

Step "Initialize-LayerStore -Root $r   # overlay where the host supports it there, else vfs"
Initialize-LayerStore -Root $r -Force -Confirm:$false | Out-Default

Step "New-Layer -Root $r -Name base | Mount-Layer   # then write two files into it"
$mount = New-Layer -Root $r -Name base | Mount-Layer
[IO.File]::WriteAllText("$($mount.Path)/motd", "hello from the base layer`n")
[IO.Directory]::CreateDirectory("$($mount.Path)/etc") | Out-Null
[IO.File]::WriteAllText("$($mount.Path)/etc/hostname", "tour`n")
$mount | Out-Default
Dismount-Layer -Root $r base

Step "New-Layer -Root $r -Name app -Parent base | Mount-Layer"
$app = New-Layer -Root $r -Name app -Parent base | Mount-Layer
$app | Out-Default
$Host.UI.WriteLine("app sees: " + ([IO.File]::ReadAllText("$($app.Path)/motd")).Trim())

[IO.File]::WriteAllText("$($app.Path)/etc/app.conf", "listen 8080`n")
[IO.File]::Delete("$($app.Path)/motd")
Dismount-Layer -Root $r app

Step "Get-LayerChanges -Root $r app"
Get-LayerChanges -Root $r app | Out-Default

Step "Export-LayerDiff -Root $r app -Path $r.app.tar.gz   # an OCI layer tarball; deletions are .wh. whiteouts"
Export-LayerDiff -Root $r app -Path "$r.app.tar.gz" | Out-Default

Step "New-Layer -Root $r -Name copy -Parent base -Archive $r.app.tar.gz; Get-LayerChanges -Root $r copy -From app"
New-Layer -Root $r -Name copy -Parent base -Archive "$r.app.tar.gz" | Out-Null
$Host.UI.WriteLine("differences between copy and app: " + @(Get-LayerChanges -Root $r copy -From app).Count)

Step "Get-Layer -Root $r"
Get-Layer -Root $r | Out-Default

Step "Remove-Layer -Root $r base"
try { Remove-Layer -Root $r base }
catch { $Host.UI.WriteLine("refused [$($_.FullyQualifiedErrorId)]: $($_.Exception.Message)") }

Step "Remove-Layer -Root $r base -Recurse -Force -WhatIf"
Remove-Layer -Root $r base -Recurse -Force -WhatIf

Step "Remove-Layer -Root $r base -Recurse -Force; Get-LayerStore -Root $r"
Remove-Layer -Root $r base -Recurse -Force -Confirm:$false
Get-LayerStore -Root $r | Out-Default
[IO.Directory]::Delete($r, $true)
[IO.File]::Delete("$r.app.tar.gz")
