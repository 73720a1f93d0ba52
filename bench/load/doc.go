// Command load is riskd's HTTP load generator: it drives POST /v1/decide with a realistic mix of logins,
// checkouts and attacks, open loop, and reports latency percentiles, throughput, errors, shed requests and the
// server's CPU and memory, per phase and per second.
//
//	go run ./bench/load -compare [-runs 5] [-out docs/bench] # bare vs riskd capacity, a spike under and overloads over it
//	go run ./bench/load -start riskd -profile soak -rate 5000 -duration 2m
//	go run ./bench/load -url http://127.0.0.1:8080/v1/decide -server-pid PID -profile spike -rate 1000
//
// Terms:
//
//   - Open loop: requests are scheduled at an arrival rate (Poisson by default, or evenly spaced) whatever
//     happens to earlier ones, and latency counts from the scheduled send time. A slow server cannot slow the
//     generator down and so hide its own slowness (coordinated omission); the time a request waits for a free
//     connection is charged as a real client would feel it. The closed-loop capacity profile, by contrast,
//     has every connection send back to back: it finds the ceiling, not the latency.
//   - Answered: a 2xx decision. Shed: 429 or 503, or a decision with the fail_policy reason, the server
//     refusing work fast to protect itself. Errors: timeouts (including requests that waited in the
//     generator's backlog longer than -timeout), failed connections and any other status; a 4xx means the
//     generator sent something wrong. Late: sent more than -late after the scheduled time (the generator
//     itself falling behind; latencies then include its lag). Dropped: the backlog was full and the request
//     was never sent.
//   - Profiles: capacity (closed loop: warm-up, then the measurement), steady (a fixed rate), spike (a
//     baseline, a ramp to -spike-factor × baseline, a hold, back to the baseline: an e-mail campaign) and
//     soak (a fixed rate with -spray of events carrying never-repeating user ids, IPs and device ids).
//   - Traffic: -users returning users with one or two habitual devices each, a home IP (part of them in the
//     demo GeoIP networks bench/geogen writes, the rest random public IPv4) and browsers drawn by weight from
//     ../shared/ua/real-user-agents.tsv (a few built-in ones when it is absent); mostly successful logins,
//     some failed ones, checkouts with amounts, logins from new places, and credential stuffing: failed logins
//     for many users from a few addresses. Bodies are appended by hand into reused buffers and nothing is
//     allocated per request: what a request costs the generator is mostly the socket calls any HTTP client
//     pays, about as much as the server's. On a small machine that is still a core's worth at tens of
//     thousands of requests per second, which is why the generator measures its own ceiling (below).
//
// -compare runs the whole benchmark in a few minutes: it builds riskd (or takes -riskd-bin) and bench/bare,
// generates the demo GeoIP databases if missing, starts both on free loopback ports, waits up to -quiet-wait
// for other processes on the machine to quieten down, and measures:
//
//  1. capacity, closed loop, of bare and riskd in alternating rounds (the best round of each counts), and
//     riskd's capacity per core of server CPU as a ratio of bare's;
//  2. riskd's sustainable rate: the highest open-loop rate at which its p99 stays within -sustain-p99 (3 ms),
//     found in five short steps below the closed-loop capacity, which is reached only with every connection
//     busy and is no rate to answer in time at;
//  3. the generator's own open-loop ceiling, in short steps against bare: the spike's peak is -under × the
//     sustainable rate unless the generator cannot send that much on its cores;
//  4. the campaign spike at that peak, first against bare (the floor that the generator, loopback TCP and
//     the machine set) and then against riskd;
//  5. overload spikes to each -over factor (1.1 and 2) × the sustainable rate, stamped with X-Request-Start:
//     answered and shed per second, accepted and shed latency, memory;
//
// and prints the tables, one row a second for each overload, and PASS or MISS against each target. -runs N
// repeats the whole comparison N times (servers started afresh) and ends with the distribution of the key
// figures over the runs and how many runs met each target: the targets hold in every run, not in the best.
// docs/OVERLOAD.md has the targets and the command behind its figures.
//
// The server's CPU and RSS come from /proc/PID/stat and /proc/PID/status of the server the generator started
// (-start, -compare) or of -server-pid. Beside them the report shows the generator's own CPU, the CPU that
// kernel network processing took (softirq, charged to no process), what other processes on the machine took,
// and the generator's own stalls (a jHiccup-style meter), so a reader can tell which side a figure belongs to.
// With -start and -compare, taskset pins the server to one CPU and the generator to the others when it can
// (-pin). Every server it starts listens on 127.0.0.1 and is stopped at the end, on error and on Ctrl-C; the
// kernel kills it if the generator dies.
//
// With -out DIR it writes NAME.csv (one row per second: offered, throughput, p50/p90/p99/p99.9/max, errors,
// shed, late, dropped, server CPU and RSS, generator CPU and stalls) and NAME.png (latency percentiles on a log scale
// over throughput). The tables it prints are Markdown.
package main
