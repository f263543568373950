// Package bench puts each of Sluice's building blocks beside its peers on the same workload, in the same run,
// so that `go test -bench` answers "which one, and at what cost" for this machine. It holds only benchmarks;
// nothing here is imported.
//
// # What is compared
//
//   - Rate limiters (bench/ratelimit_test.go): Sluice's algorithms and keyed limiter against
//     golang.org/x/time/rate (reference, named xtimerate) and go.uber.org/ratelimit (uber), with accuracy
//     (admitted/ideal) over a deterministic long run.
//   - Circuit breakers (bench/breaker_test.go): against github.com/sony/gobreaker/v2 (reference, gobreaker; and
//     gobreaker-bucket with its bucketed window) and failsafe-go (failsafe), with the detection delay
//     (calls-to-open) once a dependency starts failing.
//   - Pools (bench/pool_test.go): against github.com/jackc/puddle/v2 (reference, puddle), a channel pool and a
//     mutex pool, with wait fairness (p99wait/meanwait).
//   - Caches (bench/cache_test.go): against github.com/hashicorp/golang-lru/v2 (reference, golang-lru) and
//     github.com/maypok86/otter/v2 (otter), with hit ratios (hit%) on Zipf traces.
//
// Every peer is pinned in go.mod. Each family has serial, parallel and contention tables, and floors: the
// cost of the bare mechanism (an atomic add, a bare call, a mutex and a map) that no implementation can beat.
// The parallel tables run on internal/benchpar, b.RunParallel without the false sharing between its goroutines'
// iterators, which otherwise costs an implementation that shares nothing between cores up to 4x in some runs.
//
// # Running
//
// All comparisons, as plain benchmark output:
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./bench/...
//
// One family at several GOMAXPROCS values, to compare with benchstat:
//
//	go test -run='^$' -bench='^BenchmarkRateLimit' -benchmem -count=10 -cpu=1,2,4 ./bench/ > new.txt
//
// The report: it runs the suites, repeats each benchmark, and writes bench/RESULTS.md (tables with medians,
// confidence intervals and ratios to the reference peer), bench/charts/*.svg, bench/results.json and
// bench/HEADLINES.md. It also rewrites the generated blocks of the top-level README.md, the lines between
// <!-- report:NAME --> and <!-- /report:NAME -->: "headlines" (HEADLINES.md without its note) and, per family,
// "ratelimit", "breaker", "pool" and "cache", a compact table of the main implementations at the GOMAXPROCS
// values within the machine's cores, with the quality figures. Everything outside the markers is left byte for
// byte; a block whose markers are missing is skipped, and a start marker without its end leaves the file
// untouched and fails the run. So no figure comparing Sluice with a peer in the README is typed by hand;
// -readme names another file, and -readme "" leaves the README alone:
//
//	go run ./bench/cmd/report -quick               # under two minutes on a 2-core machine
//	go run ./bench/cmd/report                      # the full run, about 20 minutes
//	go run ./bench/cmd/report -in bench/results.txt  # redo the tables from the recorded output
//
// -quick passes -short to the benchmarks: a benchmark may drop its largest tables under [testing.Short].
//
// # Naming contract
//
// The report reads everything it knows from benchmark names and metric units, so names follow one scheme:
// Benchmark<Family><Something>/<case...>/<impl>. Family is RateLimit, Breaker, Pool or Cache. The last
// element is always the implementation: Sluice's own start with "sluice" (sluice-tokenbucket), floors with
// "floor-" (floor-atomic-add, floor-chan, floor-mutex-map), and peers have short names. Each family is compared
// with one reference peer, named exactly xtimerate, gobreaker, puddle and golang-lru. Everything between the
// top level and the implementation is the case: BenchmarkPoolAcquireRelease/size=4/clients=32/puddle.
// Implementation names do not end in "-<digits>", which the testing package appends for GOMAXPROCS. Quality
// figures are reported with [testing.B.ReportMetric] in the units admitted/ideal, calls-to-open, hit% and
// p99wait/meanwait.
//
// # Fairness rules
//
//   - Side by side: the implementations of a case are sub-benchmarks of one benchmark, run in the same process
//     on the same inputs, so that their ratio is fair even on a noisy machine. Absolute times are not.
//   - Same policy: every implementation is configured to the same limit, window, capacity or pool size, with
//     the peer's recommended API and defaults; where a peer lacks a feature, the case says so rather than
//     handicapping anyone.
//   - Set-up is not timed: limiters, caches, pools, keys and traces are built before the timed loop, from fixed
//     seeds, so every run sees the same work.
//   - Costs are counted: every benchmark reports allocations; quality figures come from deterministic runs with
//     injected clocks, never from sleeps.
//   - Never under -race, and with -count of at least 5: the report gives medians with 95% confidence
//     intervals, and marks a ratio whose interval contains 1 as "~", no significant difference.
package bench
