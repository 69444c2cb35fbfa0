# The LayerTools side of the benchmark, run by the LayerTools.Shell host (which passes no arguments, so
# everything comes from the environment or from standard input).
#
# Whole process: with $env:BENCH_OP set, imports the module, runs that one operation against the store
# $env:BENCH_STORE and exits; bench/run times the whole process, engine start and import included.
#
# In-process: without $env:BENCH_OP, serves bench/run on standard input, one command a line, in a session
# that imported the module once. "time OP STORE OUT" syncs, then times the operation alone with a Stopwatch.
# Every answer is one line starting with "@@ " ("@@ OK ..." or "@@ ERR ..."); anything else printed is not one.
$ErrorActionPreference = 'Stop'
Import-Module "$PSScriptRoot/../LayerTools.psd1"

# Each operation: a store and an output file in, nothing out, as few engine steps around the cmdlet as can be.
$operations = @{
    import  = { param($r, $out) $null = New-Layer -Root $r -Name imp -Archive $env:BENCH_ROOTFS_TAR }
    child   = { param($r, $out) $null = New-Layer -Root $r -Name kid -Parent base -Archive $env:BENCH_CHANGES_TAR }
    create  = { param($r, $out) $null = New-Layer -Root $r -Name kid -Parent base }
    changes = { param($r, $out) $null = @(Get-LayerChanges -Root $r child).Count }
    diff    = { param($r, $out) $null = Export-LayerDiff -Root $r child -Path $out }
    export  = { param($r, $out) $null = Export-LayerDiff -Root $r base -Path $out }
    mount   = { param($r, $out) $null = Mount-Layer -Root $r c5; Dismount-Layer -Root $r c5 }
    noop    = { param($r, $out) }
}

function Get-Operation([string] $name) {
    if (-not $operations.ContainsKey($name)) { throw "unknown operation '$name'" }
    $operations[$name]
}

if ($env:BENCH_OP) {
    & (Get-Operation $env:BENCH_OP) $env:BENCH_STORE $env:BENCH_OUT
    return
}

function Optional([string] $value) { if ($value -eq '-') { $null } else { $value } }

# Waits until the JIT has compiled nothing for 100 ms (3 s at most): .NET recompiles code that just got
# hot (the untimed removal before a timed import, say) on a thread of its own, which would otherwise
# take a core from the operation timed next.
function Wait-QuietJit {
    $count = [System.Runtime.JitInfo]::GetCompiledMethodCount($false)
    $quiet = [Diagnostics.Stopwatch]::StartNew()
    $all = [Diagnostics.Stopwatch]::StartNew()
    while ($quiet.ElapsedMilliseconds -lt 100 -and $all.ElapsedMilliseconds -lt 3000) {
        [Threading.Thread]::Sleep(10)
        $now = [System.Runtime.JitInfo]::GetCompiledMethodCount($false)
        if ($now -ne $count) { $count = $now; $quiet.Restart() }
    }
}

function Invoke-BenchCommand([string[]] $words) {
    $store = $words[1]
    switch ($words[0]) {
        'time' {
            $operation = Get-Operation $words[1]
            Wait-QuietJit
            & /usr/bin/sync
            $clock = [Diagnostics.Stopwatch]::StartNew()
            & $operation $words[2] $words[3]
            $clock.Stop()
            return $clock.Elapsed.TotalSeconds.ToString('F6', [Globalization.CultureInfo]::InvariantCulture)
        }
        'init' { $null = Initialize-LayerStore -Root $store -Driver $words[2] -Force -Confirm:$false; return 'initialized' }
        'new' {
            $spec = @{ Root = $store; Name = $words[2] }
            if ($parent = Optional $words[3]) { $spec.Parent = $parent }
            if ($archive = Optional $words[4]) { $spec.Archive = $archive }
            return (New-Layer @spec).Id
        }
        'remove' {
            if (Get-Layer -Root $store $words[2] -ErrorAction SilentlyContinue) {
                Remove-Layer -Root $store $words[2] -Force -Recurse -Confirm:$false
            }
            return 'removed'
        }
        'mount' { return (Mount-Layer -Root $store $words[2] -ReadOnly:($words[3] -eq 'ro')).Path }
        'unmount' { Dismount-Layer -Root $store $words[2]; return 'unmounted' }
        'export' { return (Export-LayerDiff -Root $store $words[2] -Path $words[3]).Digest }
        'changes' {
            $changes = @(Get-LayerChanges -Root $store $words[2])
            [IO.File]::WriteAllLines($words[3], [string[]]@($changes | ForEach-Object { "$($_.Kind) $($_.Path)" }))
            return $changes.Count
        }
        default { throw "unknown command '$($words[0])'" }
    }
}

[Console]::Out.WriteLine('@@ OK ready')
while ($null -ne ($line = [Console]::In.ReadLine())) {
    $words = $line -split ' '
    if ($words[0] -eq 'quit') { break }
    try {
        $answer = Invoke-BenchCommand $words
        [Console]::Out.WriteLine("@@ OK $answer")
    }
    catch {
        [Console]::Out.WriteLine("@@ ERR $($words[0]) $($words[1]) $($words[2]): " + ($_.Exception.Message -replace '\s+', ' '))
    }
}
