# Pester 5 (5.1 or later) tests of the LayerTools cmdlets, written as the user stories a person goes through.
# They mount layers, so run them as root:  Invoke-Pester ./tests  (or ./build.ps1 -Task Test).
# Each run works in a store of its own under /var/tmp and removes it afterwards.

BeforeDiscovery {
    $IsRoot = (& id -u) -eq '0'
}

Describe 'LayerTools' -Skip:(-not $IsRoot) {
    BeforeAll {
        Import-Module "$PSScriptRoot/../LayerTools.psd1" -Force

        $testDir = Join-Path '/var/tmp' "layertools-pester-$([guid]::NewGuid().ToString('n'))"
        $root = Join-Path $testDir 'store'
        # Mount counts go next to the store, so the run leaves nothing behind in /run/layertools.
        $savedRunRoot = $env:LAYERTOOLS_RUNROOT
        $env:LAYERTOOLS_RUNROOT = Join-Path $testDir 'run'

        # Layers hold a file a person would put there: the same content, mode and owner must come out of a child.
        function Write-TestFile([string] $Directory, [string] $Name, [string] $Content, [string] $Mode, [string] $Owner) {
            $path = Join-Path $Directory $Name
            Set-Content -Path $path -Value $Content -NoNewline
            # chown clears the setuid bit, so the mode comes last.
            & chown $Owner $path
            & chmod $Mode $path
            $path
        }

        function Get-FileMode([string] $Path) { & stat -c '%a' $Path }
        function Get-FileOwner([string] $Path) { & stat -c '%u:%g' $Path }

        # The FullyQualifiedErrorId of a cmdlet's error: "<error id>,<cmdlet class>".
        function Get-FullErrorId([string] $Id, [string] $Command) { "$Id,LayerTools.Commands.$Command" }
    }

    AfterAll {
        if (-not $testDir) { return }
        if (Test-Path $root) {
            # Dismount first: removing the directory with a mount under it would reach into the mounted tree.
            Get-Layer -Root $root -ErrorAction SilentlyContinue |
                Where-Object MountCount -gt 0 |
                Dismount-Layer -Force -ErrorAction SilentlyContinue
            Get-Layer -Root $root -ErrorAction SilentlyContinue |
                Where-Object { -not $_.Parent } |
                Remove-Layer -Recurse -Force -Confirm:$false -ErrorAction SilentlyContinue
        }
        # Whatever is still mounted under the test directory (a test that failed half-way) is detached lazily.
        Get-Content /proc/self/mountinfo |
            ForEach-Object { ($_ -split ' ')[4] } |
            Where-Object { $_.StartsWith("$testDir/") } |
            ForEach-Object { & umount -l $_ }
        Remove-Item -Path $testDir -Recurse -Force -ErrorAction SilentlyContinue
        $env:LAYERTOOLS_RUNROOT = $savedRunRoot
        Remove-Module LayerTools -ErrorAction SilentlyContinue
    }

    Describe 'A vfs store' {
        BeforeAll {
            $initialized = Initialize-LayerStore -Root $root -Driver vfs
        }

        It 'is created and returned by Initialize-LayerStore' {
            $initialized | Should -BeOfType 'LayerTools.LayerStore'
            $initialized.Driver | Should -Be 'vfs'
            Test-Path (Join-Path $root 'store.json') | Should -BeTrue
        }

        It 'is described by Get-LayerStore' {
            $store = Get-LayerStore -Root $root
            $store.Root | Should -Be $root
            $store.Driver | Should -Be 'vfs'
            $store.RunRoot | Should -BeLike "$env:LAYERTOOLS_RUNROOT/*"
            $store.BackingFilesystem | Should -Not -BeNullOrEmpty
            $store.LayerCount | Should -Be 0
            $store.MountedCount | Should -Be 0
            $store.Status.Keys | Should -Contain 'Layers'
        }

        It 'is left as it is when initialized again with the same driver' {
            (Initialize-LayerStore -Root $root -Driver vfs).Driver | Should -Be 'vfs'
        }

        It 'refuses the aufs driver with DriverNotSupported' {
            $other = Join-Path $testDir 'aufs-store'
            { Initialize-LayerStore -Root $other -Driver aufs -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'DriverNotSupported' 'InitializeLayerStoreCommand')
            Test-Path $other | Should -BeFalse
        }
    }

    Describe 'A child layer built on a base layer' {
        BeforeAll {
            $base = New-Layer -Root $root -Name story-base -Metadata 'base of the copy story'
            $baseMount = Mount-Layer -Root $root story-base
            $etc = New-Item -ItemType Directory -Path (Join-Path $baseMount.Path 'etc')
            & chmod 0750 $etc.FullName
            $null = Write-TestFile $baseMount.Path 'motd' "hello from the base`n" '0644' '0:0'
            $null = Write-TestFile $etc.FullName 'app.conf' "port=8080`nmode=strict`n" '0640' '1234:2345'
            $null = Write-TestFile $baseMount.Path 'run.sh' "#!/bin/sh`necho run`n" '4755' '0:0'
            Dismount-Layer -Root $root story-base

            $child = New-Layer -Root $root -Name story-child -Parent story-base
            $childMount = Mount-Layer -Root $root story-child
        }

        AfterAll {
            Dismount-Layer -Root $root story-child -Force -ErrorAction SilentlyContinue
        }

        It 'records its parent' {
            $child | Should -BeOfType 'LayerTools.Layer'
            $child.Parent | Should -Be $base.Id
            $child.Names | Should -Be @('story-child')
            $child.Driver | Should -Be 'vfs'
            $base.Metadata | Should -Be 'base of the copy story'
        }

        It 'leaves the base unmounted after Dismount-Layer' {
            $layer = Get-Layer -Root $root story-base
            $layer.MountCount | Should -Be 0
            $layer.MountPoint | Should -BeNullOrEmpty
        }

        It 'is mounted where Mount-Layer says' {
            $childMount | Should -BeOfType 'LayerTools.LayerMount'
            $childMount.LayerId | Should -Be $child.Id
            $childMount.MountCount | Should -Be 1
            $childMount.ReadOnly | Should -BeFalse
            (Get-Layer -Root $root story-child).MountPoint | Should -Be $childMount.Path
        }

        It 'has the <Name> file of its parent with the same content, mode and owner' -ForEach @(
            @{ Name = 'motd'; Content = "hello from the base`n"; Mode = '644'; Owner = '0:0' }
            @{ Name = 'etc/app.conf'; Content = "port=8080`nmode=strict`n"; Mode = '640'; Owner = '1234:2345' }
            @{ Name = 'run.sh'; Content = "#!/bin/sh`necho run`n"; Mode = '4755'; Owner = '0:0' }
        ) {
            $path = Join-Path $childMount.Path $Name
            Test-Path $path | Should -BeTrue
            Get-Content -Path $path -Raw | Should -BeExactly $Content
            Get-FileMode $path | Should -Be $Mode
            Get-FileOwner $path | Should -Be $Owner
        }

        It 'has the directories of its parent with their mode' {
            Get-FileMode (Join-Path $childMount.Path 'etc') | Should -Be '750'
        }

        It 'takes changes without passing them to its parent' {
            Set-Content -Path (Join-Path $childMount.Path 'motd') -Value 'changed in the child' -NoNewline
            $baseAgain = Mount-Layer -Root $root story-base -ReadOnly
            try {
                Get-Content -Path (Join-Path $baseAgain.Path 'motd') -Raw | Should -BeExactly "hello from the base`n"
            }
            finally {
                Dismount-Layer -Root $root story-base
            }
        }
    }

    Describe 'Finding layers' {
        BeforeAll {
            $alpha = New-Layer -Root $root -Name find-alpha, find-alpha-latest
            $beta = New-Layer -Root $root -Name find-beta -Parent find-alpha
        }

        It 'finds a layer by name' {
            (Get-Layer -Root $root find-beta).Id | Should -Be $beta.Id
        }

        It 'finds a layer by any of its names' {
            (Get-Layer -Root $root find-alpha-latest).Id | Should -Be $alpha.Id
        }

        It 'finds a layer by id' {
            $layer = Get-Layer -Root $root $alpha.Id
            $layer.Id | Should -Be $alpha.Id
            $layer.Names | Should -Be @('find-alpha', 'find-alpha-latest')
        }

        It 'finds a layer by a unique id prefix' {
            (Get-Layer -Root $root $beta.Id.Substring(0, 12)).Id | Should -Be $beta.Id
        }

        It 'finds layers by wildcard' {
            $found = Get-Layer -Root $root 'find-*'
            $found | Should -HaveCount 2
            $found.Id | Should -Contain $alpha.Id
            $found.Id | Should -Contain $beta.Id
        }

        It 'returns nothing and no error for a wildcard that matches nothing' {
            Get-Layer -Root $root 'no-such-*' -ErrorAction Stop | Should -BeNullOrEmpty
        }

        It 'lists every layer without a name' {
            (Get-Layer -Root $root).Id | Should -Contain $beta.Id
        }

        It 'shows the names in the table' {
            $table = Get-Layer -Root $root | Out-String -Width 200
            $table | Should -Match 'find-alpha, find-alpha-latest'
            $table | Should -Match 'find-beta'
            $table | Should -Match $beta.Id.Substring(0, 12)
        }

        It 'reports LayerNotFound for a name no layer has' {
            { Get-Layer -Root $root find-gamma -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotFound' 'GetLayerCommand')
        }

        It 'reports LayerNotFound from Mount-Layer too' {
            $err = { Mount-Layer -Root $root find-gamma -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotFound' 'MountLayerCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
    }

    Describe 'Names' {
        BeforeAll {
            $null = New-Layer -Root $root -Name names-one
            $null = New-Layer -Root $root -Name names-two
        }

        It 'are unique: New-Layer reports LayerNameInUse' {
            $err = { New-Layer -Root $root -Name names-one -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNameInUse' 'NewLayerCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'ResourceExists'
            Get-Layer -Root $root 'names-one' | Should -HaveCount 1
        }

        It 'are unique: Set-Layer -AddName reports LayerNameInUse' {
            { Set-Layer -Root $root names-two -AddName names-one -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNameInUse' 'SetLayerCommand')
            (Get-Layer -Root $root names-two).Names | Should -Be @('names-two')
        }

        It 'are added by Set-Layer -AddName -PassThru' {
            $layer = Set-Layer -Root $root names-two -AddName names-two-latest -PassThru
            $layer | Should -BeOfType 'LayerTools.Layer'
            $layer.Names | Should -Be @('names-two', 'names-two-latest')
            (Get-Layer -Root $root names-two-latest).Names | Should -Contain 'names-two'
        }

        It 'are removed by Set-Layer -RemoveName -PassThru' {
            $layer = Set-Layer -Root $root names-two -RemoveName names-two-latest -PassThru
            $layer.Names | Should -Be @('names-two')
            { Get-Layer -Root $root names-two-latest -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotFound' 'GetLayerCommand')
        }

        It 'can be moved from one layer to another' {
            Set-Layer -Root $root names-one -RemoveName names-one -AddName names-moved
            Set-Layer -Root $root names-two -AddName names-one
            (Get-Layer -Root $root names-one).Names | Should -Be @('names-two', 'names-one')
        }

        It 'produce no output from Set-Layer without -PassThru' {
            Set-Layer -Root $root names-two -Metadata 'quiet' | Should -BeNullOrEmpty
            (Get-Layer -Root $root names-two).Metadata | Should -Be 'quiet'
        }
    }

    Describe 'Mount counts' {
        BeforeAll {
            $layer = New-Layer -Root $root -Name count-me
        }

        AfterAll {
            Dismount-Layer -Root $root count-me -Force -ErrorAction SilentlyContinue
        }

        It 'go up with each Mount-Layer and return the same path' {
            $first = Mount-Layer -Root $root count-me
            $second = Mount-Layer -Root $root count-me
            $first.MountCount | Should -Be 1
            $second.MountCount | Should -Be 2
            $second.Path | Should -Be $first.Path
        }

        It 'go down by one with Dismount-Layer' {
            $left = Dismount-Layer -Root $root count-me -PassThru
            $left | Should -BeOfType 'LayerTools.LayerMount'
            $left.MountCount | Should -Be 1
            (Get-Layer -Root $root count-me).MountCount | Should -Be 1
            (Get-LayerStore -Root $root).MountedCount | Should -BeGreaterOrEqual 1
        }

        It 'reach zero when Dismount-Layer -Path drops the last user' {
            $path = (Get-Layer -Root $root count-me).MountPoint
            $path | Should -Not -BeNullOrEmpty
            (Dismount-Layer -Root $root -Path $path -PassThru).MountCount | Should -Be 0
            $after = Get-Layer -Root $root count-me
            $after.MountCount | Should -Be 0
            $after.MountPoint | Should -BeNullOrEmpty
        }

        It 'drop to zero at once with Dismount-Layer -Force' {
            1..3 | ForEach-Object { $null = Mount-Layer -Root $root count-me }
            Dismount-Layer -Root $root count-me -Force
            (Get-Layer -Root $root count-me).MountCount | Should -Be 0
        }

        It 'refuse to drop below zero: LayerNotMounted' {
            { Dismount-Layer -Root $root count-me -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotMounted' 'DismountLayerCommand')
        }
    }

    Describe 'Removing layers' {
        BeforeAll {
            $null = New-Layer -Root $root -Name rm-base
            $null = New-Layer -Root $root -Name rm-child -Parent rm-base
            $null = New-Layer -Root $root -Name rm-grandchild -Parent rm-child
        }

        AfterAll {
            Get-Layer -Root $root 'rm-*' | Where-Object MountCount -gt 0 | Dismount-Layer -Force -ErrorAction SilentlyContinue
        }

        It 'refuses a layer with children: LayerHasChildren' {
            $err = { Remove-Layer -Root $root rm-base -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerHasChildren' 'RemoveLayerCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'ResourceBusy'
            Get-Layer -Root $root 'rm-*' | Should -HaveCount 3
        }

        It 'removes nothing with -WhatIf' {
            Remove-Layer -Root $root rm-grandchild -WhatIf
            Remove-Layer -Root $root rm-base -Recurse -WhatIf
            Get-Layer -Root $root 'rm-*' | Should -HaveCount 3
        }

        It 'refuses a mounted layer: LayerMounted' {
            $null = Mount-Layer -Root $root rm-grandchild
            { Remove-Layer -Root $root rm-grandchild -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerMounted' 'RemoveLayerCommand')
            (Get-Layer -Root $root rm-grandchild).MountCount | Should -Be 1
        }

        It 'refuses a chain with a mounted layer in it, removing nothing' {
            { Remove-Layer -Root $root rm-base -Recurse -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerMounted' 'RemoveLayerCommand')
            Get-Layer -Root $root 'rm-*' | Should -HaveCount 3
        }

        It 'removes a piped layer, mounted, with -Force' {
            Get-Layer -Root $root rm-grandchild | Remove-Layer -Force -Confirm:$false
            { Get-Layer -Root $root rm-grandchild -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotFound' 'GetLayerCommand')
            Get-Layer -Root $root 'rm-*' | Should -HaveCount 2
        }

        It 'removes a whole chain with -Recurse' {
            Remove-Layer -Root $root rm-base -Recurse -Confirm:$false
            Get-Layer -Root $root 'rm-*' | Should -BeNullOrEmpty
        }
    }

    Describe 'The pipeline' {
        BeforeAll {
            $null = New-Layer -Root $root -Name pipe-base
            $null = New-Layer -Root $root -Name pipe-child -Parent pipe-base
        }

        It 'takes the store from a piped layer: Get-Layer -Root $root child | Remove-Layer' {
            Get-Layer -Root $root pipe-child | Remove-Layer -Confirm:$false
            { Get-Layer -Root $root pipe-child -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerNotFound' 'GetLayerCommand')
            Get-Layer -Root $root pipe-base | Should -HaveCount 1
        }

        It 'takes layer names as strings' {
            $mount = 'pipe-base' | Mount-Layer -Root $root
            $mount.MountCount | Should -Be 1
            $mount | Dismount-Layer
            (Get-Layer -Root $root pipe-base).MountCount | Should -Be 0
        }

        It 'passes a new layer on to Set-Layer' {
            $layer = New-Layer -Root $root -Name pipe-new | Set-Layer -AddName pipe-new-2 -PassThru
            $layer.Names | Should -Be @('pipe-new', 'pipe-new-2')
        }
    }
}
