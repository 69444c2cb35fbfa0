#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and packages LayerTools.
.DESCRIPTION
    Build    assembles module/bin so that Import-Module ./LayerTools.psd1 works (same as dotnet build).
    Test     runs the xunit suite (core + hosted engine) and, when Pester 5 is installed, tests/*.Tests.ps1.
    Package  copies the loadable module (manifest, module/, formats/, en-US/ help) to out/LayerTools/<version> and zips it.
    Demo     runs demo/tour.ps1 in this pwsh session.
    The tests and the demo mount layers: run them as root.
.EXAMPLE
    ./build.ps1
.EXAMPLE
    ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package', 'Demo')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug'
)

$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Dotnet {
    & dotnet @args
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE" }
}

Invoke-Dotnet build LayerTools.sln -c $Configuration

switch ($Task) {
    'Test' {
        Invoke-Dotnet test LayerTools.sln -c $Configuration --no-build
        if (Get-Module -ListAvailable Pester | Where-Object Version -ge '5.0') {
            $result = Invoke-Pester -Path tests -Output Detailed -PassThru
            if ($result.FailedCount -gt 0) { throw "$($result.FailedCount) Pester tests failed" }
        }
        else {
            Write-Warning 'Pester 5 is not installed; skipped tests/*.Tests.ps1 (Install-Module Pester -MinimumVersion 5.0).'
        }
    }
    'Package' {
        $version = (Import-PowerShellDataFile ./LayerTools.psd1).ModuleVersion
        $target = Join-Path out "LayerTools/$version"
        Remove-Item $target -Recurse -Force -ErrorAction Ignore
        New-Item -ItemType Directory -Path $target | Out-Null
        Copy-Item LayerTools.psd1, module, formats, en-US -Destination $target -Recurse
        $zip = Join-Path out "LayerTools-$version.zip"
        Compress-Archive -Path (Join-Path out 'LayerTools') -DestinationPath $zip -Force
        Get-Item $zip
    }
    'Demo' {
        & ./demo/tour.ps1
    }
}
