# Pester 5 (5.1 or later) tests of the LayerTools cmdlets, written as the user stories a person goes through.
# They mount layers, so run them as root:  Invoke-Pester ./tests  (or ./build.ps1 -Task Test).
# Every story runs once per driver (vfs, then overlay), each in a store of its own under /var/tmp that is removed afterwards.

BeforeDiscovery {
    $IsRoot = (& id -u) -eq '0'
}

Describe 'LayerTools on a <Driver> store' -ForEach @(@{ Driver = 'vfs' }, @{ Driver = 'overlay' }) -Skip:(-not $IsRoot) {
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

    Describe 'A store' {
        BeforeAll {
            $initialized = Initialize-LayerStore -Root $root -Driver $Driver
        }

        It 'is created and returned by Initialize-LayerStore' {
            $initialized | Should -BeOfType 'LayerTools.LayerStore'
            $initialized.Driver | Should -Be $Driver
            Test-Path (Join-Path $root 'store.json') | Should -BeTrue
        }

        It 'is described by Get-LayerStore' {
            $store = Get-LayerStore -Root $root
            $store.Root | Should -Be $root
            $store.Driver | Should -Be $Driver
            $store.RunRoot | Should -BeLike "$env:LAYERTOOLS_RUNROOT/*"
            $store.BackingFilesystem | Should -Not -BeNullOrEmpty
            $store.LayerCount | Should -Be 0
            $store.MountedCount | Should -Be 0
            $store.Status.Keys | Should -Contain 'Layers'
        }

        It 'is left as it is when initialized again with the same driver' {
            (Initialize-LayerStore -Root $root -Driver $Driver).Driver | Should -Be $Driver
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
            $child.Driver | Should -Be $Driver
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

    Describe 'Layer tarballs of a child layer' {
        BeforeAll {
            $tarDir = Join-Path $testDir 'tarballs'
            $null = New-Item -ItemType Directory -Path $tarDir

            $null = New-Layer -Root $root -Name diff-base
            $baseMount = Mount-Layer -Root $root diff-base
            $etc = New-Item -ItemType Directory -Path (Join-Path $baseMount.Path 'etc')
            $null = Write-TestFile $etc.FullName 'hosts' "127.0.0.1 localhost`n" '0644' '0:0'
            $null = Write-TestFile $etc.FullName 'old.conf' "obsolete=1`n" '0600' '0:0'
            $null = Write-TestFile $baseMount.Path 'motd' "hello from the base`n" '0644' '0:0'
            $apt = New-Item -ItemType Directory -Path (Join-Path $baseMount.Path 'var/cache/apt')
            $null = Write-TestFile $apt.FullName 'pkgcache.bin' "cache`n" '0644' '0:0'
            Dismount-Layer -Root $root diff-base

            # The child changes one file, adds one, deletes one file and one whole directory.
            $null = New-Layer -Root $root -Name diff-child -Parent diff-base
            $childMount = Mount-Layer -Root $root diff-child
            Set-Content -Path (Join-Path $childMount.Path 'motd') -Value "hello from the child`n" -NoNewline
            $null = Write-TestFile (Join-Path $childMount.Path 'etc') 'new.conf' "port=8080`n" '0640' '1234:2345'
            Remove-Item -Path (Join-Path $childMount.Path 'etc/old.conf')
            Remove-Item -Path (Join-Path $childMount.Path 'var/cache/apt') -Recurse -Force
            Dismount-Layer -Root $root diff-child

            $childTar = Join-Path $tarDir 'child.tar'
            $exported = Export-LayerDiff -Root $root diff-child -Path $childTar
        }

        It 'is written by Export-LayerDiff to a .tar, described by a LayerDiff' {
            $exported | Should -BeOfType 'LayerTools.LayerDiff'
            $exported.LayerId | Should -Be (Get-Layer -Root $root diff-child).Id
            $exported.Path | Should -Be $childTar
            $exported.Compression | Should -Be 'None'
            $exported.Size | Should -Be (Get-Item $childTar).Length
            $exported.Digest | Should -Be "sha256:$((Get-FileHash $childTar -Algorithm SHA256).Hash.ToLowerInvariant())"
            $exported.UncompressedDigest | Should -Be $exported.Digest
            $exported.Exact | Should -BeFalse
        }

        It 'holds the added and changed files and a whiteout for each deletion (tar -tf)' {
            $names = & tar -tf $childTar
            $LASTEXITCODE | Should -Be 0
            $names | Should -Contain 'motd'
            $names | Should -Contain 'etc/new.conf'
            $names | Should -Contain 'etc/.wh.old.conf'
            $names | Should -Contain 'var/cache/.wh.apt'
            # Unchanged files stay out, and a deleted directory is one whiteout, not one per file.
            $names | Should -Not -Contain 'etc/hosts'
            $names | Should -Not -Contain 'var/cache/apt/pkgcache.bin'
            $names | Should -Not -Contain 'var/cache/apt/.wh.pkgcache.bin'
        }

        It 'is listed by Get-LayerChanges as Kind and Path, sorted by path' {
            $changes = Get-LayerChanges -Root $root diff-child
            $changes[0] | Should -BeOfType 'LayerTools.LayerChange'
            $changes[0].Kind | Should -BeOfType 'LayerTools.ChangeKind'
            # /etc and /var/cache are Modified: adding and removing entries moved their modification times.
            $changes | ForEach-Object { "$($_.Kind) $($_.Path)" } | Should -Be @(
                'Modified /etc'
                'Added /etc/new.conf'
                'Deleted /etc/old.conf'
                'Modified /motd'
                'Modified /var/cache'
                'Deleted /var/cache/apt'
            )
        }

        It 'is applied by Import-LayerDiff to a fresh child of the same base, giving the same files' {
            $null = New-Layer -Root $root -Name diff-copy -Parent diff-base
            $imported = Import-LayerDiff -Root $root diff-copy -Path $childTar
            $imported | Should -BeOfType 'LayerTools.LayerDiff'
            $imported.LayerId | Should -Be (Get-Layer -Root $root diff-copy).Id
            $imported.Compression | Should -Be 'None'
            $imported.Digest | Should -Be $exported.Digest

            # No path differs in type, mode, owner, times, size, link target or attributes ...
            Get-LayerChanges -Root $root diff-copy -From diff-child | Should -BeNullOrEmpty
            # ... and the files are what the child has.
            $copyMount = Mount-Layer -Root $root diff-copy -ReadOnly
            try {
                Get-Content -Path (Join-Path $copyMount.Path 'motd') -Raw | Should -BeExactly "hello from the child`n"
                $newConf = Join-Path $copyMount.Path 'etc/new.conf'
                Get-Content -Path $newConf -Raw | Should -BeExactly "port=8080`n"
                Get-FileMode $newConf | Should -Be '640'
                Get-FileOwner $newConf | Should -Be '1234:2345'
                Test-Path (Join-Path $copyMount.Path 'etc/hosts') | Should -BeTrue
                Test-Path (Join-Path $copyMount.Path 'etc/old.conf') | Should -BeFalse
                Test-Path (Join-Path $copyMount.Path 'var/cache/apt') | Should -BeFalse
                Test-Path (Join-Path $copyMount.Path 'var/cache') | Should -BeTrue
            }
            finally {
                Dismount-Layer -Root $root diff-copy
            }

            $layer = Get-Layer -Root $root diff-copy
            $layer.UncompressedDigest | Should -Be $exported.UncompressedDigest
            $layer.Compression | Should -Be 'None'
            $layer.Uids | Should -Contain 1234
            $layer.Gids | Should -Contain 2345
            $layer.Problem | Should -BeNullOrEmpty
        }

        It 'is measured by Measure-LayerDiff at the exported file''s length and digest (-Compression None)' {
            $file = Join-Path $tarDir 'child-none.tar'
            $written = Export-LayerDiff -Root $root diff-child -Path $file -Compression None
            $measured = Measure-LayerDiff -Root $root diff-child -Compression None
            $measured | Should -BeOfType 'LayerTools.LayerDiff'
            $measured.Path | Should -BeNullOrEmpty
            $measured.Size | Should -Be (Get-Item $file).Length
            $measured.Digest | Should -Be "sha256:$((Get-FileHash $file -Algorithm SHA256).Hash.ToLowerInvariant())"
            $measured.Digest | Should -Be $written.Digest
        }

        It 'is compressed with <Compression> for a .<Extension> name and passes <Tool> -t' -ForEach @(
            @{ Extension = 'tar.gz'; Compression = 'Gzip'; Tool = 'gzip' }
            @{ Extension = 'tgz'; Compression = 'Gzip'; Tool = 'gzip' }
            @{ Extension = 'tar.zst'; Compression = 'Zstd'; Tool = 'zstd' }
        ) {
            $file = Join-Path $tarDir "child.$Extension"
            $diff = Export-LayerDiff -Root $root diff-child -Path $file
            $diff.Compression | Should -Be $Compression
            $diff.Size | Should -Be (Get-Item $file).Length
            $diff.Size | Should -BeLessThan $diff.UncompressedSize
            & $Tool -q -t $file
            $LASTEXITCODE | Should -Be 0
            # The tar inside is the uncompressed export, byte for byte.
            $diff.UncompressedDigest | Should -Be $exported.Digest
            & sh -c "$Tool -dc '$file' | cmp -s - '$childTar'"
            $LASTEXITCODE | Should -Be 0
        }

        It 'is the same every time for a base layer: same Digest twice' {
            $first = Export-LayerDiff -Root $root diff-base -Path (Join-Path $tarDir 'base-1.tar')
            # Nothing in an export comes from the clock.
            Start-Sleep -Seconds 1
            $second = Export-LayerDiff -Root $root diff-base -Path (Join-Path $tarDir 'base-2.tar')
            $second.Digest | Should -Be $first.Digest
            (Get-FileHash $second.Path -Algorithm SHA256).Hash | Should -Be (Get-FileHash $first.Path -Algorithm SHA256).Hash
            # A base layer's diff holds its whole tree, root directory included.
            $names = & tar -tf $first.Path
            $names | Should -Contain './'
            $names | Should -Contain 'var/cache/apt/pkgcache.bin'
        }

        It 'needs -Path or -Stdout: PathOrStdoutRequired' {
            { Export-LayerDiff -Root $root diff-child -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'PathOrStdoutRequired' 'ExportLayerDiffCommand')
        }

        It 'replaces no file with -NoClobber' {
            $before = (Get-FileHash $childTar -Algorithm SHA256).Hash
            { Export-LayerDiff -Root $root diff-base -Path $childTar -NoClobber -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'FileSystemError' 'ExportLayerDiffCommand')
            (Get-FileHash $childTar -Algorithm SHA256).Hash | Should -Be $before
        }
    }

    Describe 'A layer made from a GNU tar tarball' {
        BeforeAll {
            $tarDir = Join-Path $testDir 'gnu-tar'
            $source = Join-Path $tarDir 'rootfs'
            $null = New-Item -ItemType Directory -Path (Join-Path $source 'etc')
            $null = New-Item -ItemType Directory -Path (Join-Path $source 'usr/bin')
            $null = Write-TestFile (Join-Path $source 'etc') 'hosts' "127.0.0.1 localhost`n" '0644' '0:0'
            $null = Write-TestFile (Join-Path $source 'etc') 'shadow' "root:*:19000:0:99999:7:::`n" '0640' '0:42'
            $null = Write-TestFile (Join-Path $source 'usr/bin') 'tool' "#!/bin/sh`necho tool`n" '4755' '0:0'
            $null = Write-TestFile $source 'home.txt' "owned by a user`n" '0600' '1000:2000'
            & ln -s usr/bin (Join-Path $source 'bin')
            & ln (Join-Path $source 'etc/hosts') (Join-Path $source 'etc/hosts.link')
            $sourceTar = Join-Path $tarDir 'rootfs.tar'
            & tar --numeric-owner --xattrs -C $source -cf $sourceTar .
            $sourceHash = (Get-FileHash $sourceTar -Algorithm SHA256).Hash

            $fromTar = New-Layer -Root $root -Name gnu-base -Archive $sourceTar
        }

        It 'is created by New-Layer -Archive and records where it came from' {
            $fromTar | Should -BeOfType 'LayerTools.Layer'
            $fromTar.Compression | Should -Be 'None'
            $fromTar.CompressedDigest | Should -Be "sha256:$($sourceHash.ToLowerInvariant())"
            $fromTar.UncompressedDigest | Should -Be $fromTar.CompressedDigest
            $fromTar.CompressedSize | Should -Be (Get-Item $sourceTar).Length
            $fromTar.Uids | Should -Be @(0, 1000)
            $fromTar.Gids | Should -Be @(0, 42, 2000)
            $fromTar.Problem | Should -BeNullOrEmpty
        }

        It 'has the files of the tarball with their mode and owner' {
            $mount = Mount-Layer -Root $root gnu-base -ReadOnly
            try {
                Get-FileMode (Join-Path $mount.Path 'usr/bin/tool') | Should -Be '4755'
                Get-FileOwner (Join-Path $mount.Path 'etc/shadow') | Should -Be '0:42'
                Get-FileOwner (Join-Path $mount.Path 'home.txt') | Should -Be '1000:2000'
                & readlink (Join-Path $mount.Path 'bin') | Should -Be 'usr/bin'
                & stat -c '%h' (Join-Path $mount.Path 'etc/hosts') | Should -Be '2'
            }
            finally {
                Dismount-Layer -Root $root gnu-base
            }
        }

        It 'is given back byte for byte by Export-LayerDiff: same sha256, Exact' {
            $diff = Export-LayerDiff -Root $root gnu-base -Path (Join-Path $tarDir 'exported.tar')
            $diff.Exact | Should -BeTrue
            (Get-FileHash $diff.Path -Algorithm SHA256).Hash | Should -Be $sourceHash
            $diff.Digest | Should -Be $fromTar.UncompressedDigest
        }

        It 'is measured as the original tarball by Measure-LayerDiff' {
            $measured = Measure-LayerDiff -Root $root gnu-base
            $measured.Exact | Should -BeTrue
            $measured.Size | Should -Be (Get-Item $sourceTar).Length
            $measured.Digest | Should -Be $fromTar.UncompressedDigest
        }

        It 'is given back inside a <Tool> stream that passes <Tool> -t' -ForEach @(
            @{ Extension = 'tar.gz'; Tool = 'gzip' }
            @{ Extension = 'tar.zst'; Tool = 'zstd' }
        ) {
            $file = Join-Path $tarDir "exported.$Extension"
            $diff = Export-LayerDiff -Root $root gnu-base -Path $file
            $diff.Exact | Should -BeTrue
            & $Tool -q -t $file
            $LASTEXITCODE | Should -Be 0
            & sh -c "$Tool -dc '$file' | cmp -s - '$sourceTar'"
            $LASTEXITCODE | Should -Be 0
        }

        It 'is no longer replayed after a read-write mount, yet keeps its files' {
            $null = Mount-Layer -Root $root gnu-base
            Dismount-Layer -Root $root gnu-base
            $diff = Export-LayerDiff -Root $root gnu-base -Path (Join-Path $tarDir 'recomputed.tar')
            $diff.Exact | Should -BeFalse
            $names = & tar -tf $diff.Path
            $names | Should -Contain 'usr/bin/tool'
            $names | Should -Contain 'etc/hosts.link'
        }
    }

    Describe 'Bad layer tarballs' {
        BeforeAll {
            $tarDir = Join-Path $testDir 'bad-tarballs'
            $source = Join-Path $tarDir 'source'
            $null = New-Item -ItemType Directory -Path $source

            # A plain tar cut off in the middle of a file's data.
            $null = Write-TestFile $source 'big.txt' ('0123456789abcdef' * 512) '0644' '0:0'
            $wholeTar = Join-Path $tarDir 'whole.tar'
            & tar --numeric-owner -C $source -cf $wholeTar big.txt
            $truncatedTar = Join-Path $tarDir 'truncated.tar'
            [IO.File]::WriteAllBytes($truncatedTar, [IO.File]::ReadAllBytes($wholeTar)[0..4607])

            # A tar whose only entry is named ../escape: -P keeps the '..' that GNU tar would strip.
            $null = Write-TestFile $source 'escape' "written outside the layer`n" '0644' '0:0'
            $unsafeTar = Join-Path $tarDir 'unsafe.tar'
            & tar -P --transform 's,^escape$,../escape,' -C $source -cf $unsafeTar escape

            # vfs keeps a layer in vfs/dir/<id>; overlay in overlay/<id>, beside its own l and empty directories.
            function Get-LayerDirectoryCount {
                $layers = if ($Driver -eq 'vfs') { Get-ChildItem -Path (Join-Path $root 'vfs/dir') -Directory -Force }
                          else { Get-ChildItem -Path (Join-Path $root 'overlay') -Directory -Force | Where-Object Name -notin 'l', 'empty' }
                @($layers).Count
            }

            # Wherever the driver keeps the layer, ../escape would land under the test directory.
            function Get-EscapedFile {
                Get-ChildItem -Path $testDir -Recurse -Force -Filter 'escape' | Where-Object FullName -ne (Join-Path $source 'escape')
            }
        }

        It 'the helper built an unsafe tarball' {
            & tar -P -tf $unsafeTar | Should -Be '../escape'
        }

        It 'a truncated tarball: New-Layer -Archive reports ArchiveCorrupt and leaves no layer' {
            $layersBefore = (Get-LayerStore -Root $root).LayerCount
            $err = { New-Layer -Root $root -Name bad-truncated -Archive $truncatedTar -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'ArchiveCorrupt' 'NewLayerCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'InvalidData'
            Get-Layer -Root $root 'bad-truncated*' | Should -BeNullOrEmpty
            (Get-LayerStore -Root $root).LayerCount | Should -Be $layersBefore
            Get-LayerDirectoryCount | Should -Be $layersBefore
        }

        It 'an unsafe tarball: New-Layer -Archive reports ArchiveUnsafeEntry, writes nothing outside, leaves no layer' {
            $layersBefore = (Get-LayerStore -Root $root).LayerCount
            $err = { New-Layer -Root $root -Name bad-unsafe -Archive $unsafeTar -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'ArchiveUnsafeEntry' 'NewLayerCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'SecurityError'
            $err.TargetObject | Should -Be '../escape'
            Get-EscapedFile | Should -BeNullOrEmpty
            Get-Layer -Root $root 'bad-unsafe*' | Should -BeNullOrEmpty
            (Get-LayerStore -Root $root).LayerCount | Should -Be $layersBefore
            Get-LayerDirectoryCount | Should -Be $layersBefore
        }

        It 'an unsafe tarball: Import-LayerDiff reports ArchiveUnsafeEntry and marks the layer with a Problem' {
            $null = New-Layer -Root $root -Name bad-victim
            { Import-LayerDiff -Root $root bad-victim -Path $unsafeTar -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'ArchiveUnsafeEntry' 'ImportLayerDiffCommand')
            Get-EscapedFile | Should -BeNullOrEmpty
            $layer = Get-Layer -Root $root bad-victim -WarningAction SilentlyContinue -WarningVariable warnings
            $layer.Problem | Should -Match 'partly applied'
            $warnings | Should -HaveCount 1
            "$($warnings[0])" | Should -Match 'bad-victim'
            Remove-Layer -Root $root bad-victim -Confirm:$false
        }

        It 'a missing tarball: ArchiveNotFound from Import-LayerDiff and New-Layer' {
            $missing = Join-Path $tarDir 'missing.tar'
            $null = New-Layer -Root $root -Name bad-target
            $err = { Import-LayerDiff -Root $root bad-target -Path $missing -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'ArchiveNotFound' 'ImportLayerDiffCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
            (Get-Layer -Root $root bad-target).Problem | Should -BeNullOrEmpty
            { New-Layer -Root $root -Name bad-missing -Archive $missing -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'ArchiveNotFound' 'NewLayerCommand')
            Get-Layer -Root $root 'bad-missing*' | Should -BeNullOrEmpty
        }

        It 'a read-only layer refuses an import: LayerReadOnly' {
            $null = New-Layer -Root $root -Name bad-readonly -ReadOnly
            $err = { Import-LayerDiff -Root $root bad-readonly -Path $wholeTar -ErrorAction Stop } |
                Should -Throw -ErrorId (Get-FullErrorId 'LayerReadOnly' 'ImportLayerDiffCommand') -PassThru
            $err.CategoryInfo.Category | Should -Be 'InvalidOperation'
            (Get-Layer -Root $root bad-readonly).Problem | Should -BeNullOrEmpty
        }
    }
}
