@{
    RootModule           = 'module/bin/LayerTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d0f4f0e-8a55-4f7e-9c39-1b7a3c2f64d1'
    Author               = 'LayerTools'
    CompanyName          = 'LayerTools'
    Copyright            = '(c) LayerTools. MIT License.'
    Description          = 'Build, mount, inspect and ship copy-on-write filesystem layers from the pipeline (Linux).'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('formats/LayerTools.Format.ps1xml')
    CmdletsToExport      = @(
        'Initialize-LayerStore', 'Get-LayerStore',
        'New-Layer', 'Get-Layer', 'Set-Layer', 'Remove-Layer',
        'Mount-Layer', 'Dismount-Layer',
        'Get-LayerChanges', 'Export-LayerDiff', 'Import-LayerDiff', 'Measure-LayerDiff'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Linux', 'Containers', 'Layers', 'Overlay', 'Filesystem')
            ProjectUri = ''
        }
    }
}
