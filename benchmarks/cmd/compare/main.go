// Command compare runs the same echo workloads against several WebSocket
// echo servers and reports the server's CPU cost per message, per MB and per
// handshake, its memory per idle connection, and throughput.
//
// Usage (from the benchmarks directory, after building the servers into
// bin/, which run.sh does):
//
//	compare [flags] [NAME=COMMAND ...]
//
// Servers are the built-in names given with -servers (default "all": this
// library's wsecho and the gorilla, coder, gobwas and gws echo servers in
// bin/) plus any NAME=COMMAND arguments. The runner appends
// "-addr 127.0.0.1:PORT" to each command, starts it with GOMAXPROCS=1,
// pinned with taskset to the server CPU, and waits for it to print "ready".
// The command must exec the server itself, because CPU time and memory are
// read from /proc of the process started.
//
// The runner is also the load generator: it re-executes itself pinned to
// the load CPU and talks to the servers over raw TCP on 127.0.0.1 with its
// own handshake and pre-built masked frames, checking every echo byte for
// byte. Each repetition runs every scenario on every server, with a fresh
// server process each time; medians over the repetitions are reported.
//
// Results go to -out: <stamp>.json and <stamp>.md, copied to latest.json
// and latest.md, and the servers' output to logs/<stamp>/. With -render
// FILE.json it only rewrites FILE.md from an earlier run's JSON.
//
// Linux only.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// builtins maps the names -servers knows to commands relative to -bin.
var builtins = []struct {
	name string
	argv []string
}{
	{"wsproject", []string{"wsecho"}},
	{"gorilla", []string{"echo-gorilla"}},
	{"coder", []string{"echo-coder"}},
	{"gobwas", []string{"echo-gobwas"}},
	{"gws", []string{"echo-gws"}},
	{"wsproject-http", []string{"wsecho", "-http"}},
}

// defaultServers are the servers of -servers all.
var defaultServers = []string{"wsproject", "gorilla", "coder", "gobwas", "gws"}

// pinnedEnv marks the re-executed, pinned load generator.
const pinnedEnv = "WSCOMPARE_LOAD_PINNED"

func main() {
	var (
		serversFlag = flag.String("servers", "all", `comma-separated built-in servers ("all", "none", or names among `+builtinNames()+`)`)
		binDir      = flag.String("bin", "bin", "directory of the built-in server binaries")
		reps        = flag.Int("reps", 3, "repetitions (medians are reported)")
		scenFlag    = flag.String("scenarios", "all", "comma-separated scenarios to run (tp32,tp1k,big_bin,big_text,idle,hs)")
		duration    = flag.Duration("duration", 3*time.Second, "measuring window of the time-based scenarios")
		warmup      = flag.Duration("warmup", 500*time.Millisecond, "warm-up before the measuring window")
		idleConns   = flag.Int("idle-conns", 5000, "connections of the idle scenario")
		serverCPU   = flag.Int("server-cpu", 1, "CPU the servers are pinned to")
		loadCPU     = flag.Int("load-cpu", 0, "CPU the load generator is pinned to")
		outDir      = flag.String("out", "results", "output directory")
		retries     = flag.Int("retries", 1, "times a disturbed run is repeated (other processes took over 30% of the server CPU, or nothing completed)")
		quietWait   = flag.Duration("quiet-wait", 15*time.Second, "before each run, wait up to this long for both CPUs to be less than a quarter busy")
		quietBudget = flag.Duration("quiet-budget", 4*time.Minute, "total time all runs together may wait for quiet CPUs")
		skipChecks  = flag.Bool("skip-checks", false, "skip the one-off UTF-8 and 64 MiB checks")
		render      = flag.String("render", "", "only rewrite the markdown of this results JSON (FILE.json → FILE.md)")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: compare [flags] [NAME=COMMAND ...]\n")
		flag.PrintDefaults()
	}
	// Flags may come before, between and after the NAME=COMMAND arguments.
	var serverArgs []string
	for rest := os.Args[1:]; ; {
		flag.CommandLine.Parse(rest)
		if flag.NArg() == 0 {
			break
		}
		serverArgs = append(serverArgs, flag.Arg(0))
		rest = flag.Args()[1:]
	}

	if *render != "" {
		if err := rerender(*render); err != nil {
			fatal(err)
		}
		return
	}

	specs, err := pickServers(*serversFlag, *binDir, serverArgs)
	if err != nil {
		fatal(err)
	}
	scens, err := pickScenarios(*scenFlag)
	if err != nil {
		fatal(err)
	}
	if *reps < 1 {
		fatal(fmt.Errorf("-reps must be at least 1"))
	}

	pin := choosePinning(*serverCPU, *loadCPU)
	if pin.taskset != "" && os.Getenv(pinnedEnv) == "" {
		os.Exit(reexecPinned(pin))
	}

	st := &settings{Duration: *duration, Warmup: *warmup, IdleConns: *idleConns, HSWorkers: 32, Retries: max(0, *retries), QuietWait: *quietWait, quietBudget: *quietBudget, pin: pin}
	if pin.taskset == "" {
		st.pin.serverCPU = -1
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\n%v: stopping the running server and exiting\n", s)
		stopCurrent()
		os.Exit(130)
	}()

	stamp := time.Now().UTC().Format("20060102T150405Z")
	logDir := filepath.Join(*outDir, "logs", stamp)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		fatal(err)
	}
	rep := &resultFile{
		Date:      time.Now().UTC().Format(time.RFC3339),
		Machine:   readMachineInfo(),
		Commit:    gitHead(),
		Settings:  *st,
		Reps:      *reps,
		Servers:   specs,
		Scenarios: scens,
	}
	rep.Machine.Pinning = pin.note
	for _, sc := range scens {
		if sc.Name == "idle" {
			sc.Description = fmt.Sprintf("%d idle upgraded connections, then one 1 KiB echo on each", st.IdleConns)
		}
	}
	fmt.Printf("machine: %s, %d cores, kernel %s, %s; %s\n", rep.Machine.CPUModel, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.GoVersion, pin.note)

	if !*skipChecks {
		fmt.Println("checks (once per server):")
		for _, sp := range specs {
			rep.Checks = append(rep.Checks, runChecks(sp, pin, logDir))
		}
	}

	start := time.Now()
	for r := range *reps {
		for _, sc := range scens {
			// Rotate the server order from one repetition to the next so
			// that no server always runs right after the same neighbour.
			for i := range specs {
				sp := specs[(i+r)%len(specs)]
				res := runOne(sp, sc, r+1, st, logDir)
				rep.Runs = append(rep.Runs, res)
			}
		}
		fmt.Printf("repetition %d/%d done after %s\n", r+1, *reps, time.Since(start).Round(time.Second))
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	rep.summarise()

	failed, err := writeResults(rep, *outDir, stamp)
	if err != nil {
		fatal(err)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d run(s) or check(s) failed; see the markdown and %s\n", failed, logDir)
		os.Exit(1)
	}
}

// runChecks starts sp once and runs the UTF-8 and 64 MiB checks.
func runChecks(sp serverSpec, pin pinning, logDir string) checkResult {
	cr := checkResult{Server: sp.Name}
	s, err := startServer(sp, pin, filepath.Join(logDir, sp.Name+"-checks.log"))
	if err != nil {
		cr.InvalidUTF8, cr.Big64MiB = "not run", "server failed to start: "+err.Error()
		fmt.Printf("  %-16s %s\n", sp.Name, cr.Big64MiB)
		return cr
	}
	defer s.stop()
	cr.InvalidUTF8 = checkInvalidUTF8(s)
	cr.Big64MiB, cr.OK = checkBig(s)
	if err := s.alive(); err != nil && cr.OK {
		cr.Big64MiB, cr.OK = "server died: "+err.Error(), false
	}
	fmt.Printf("  %-16s invalid UTF-8 text: %s; 64 MiB echo: %s\n", sp.Name, cr.InvalidUTF8, cr.Big64MiB)
	return cr
}

// disturbed is the share of the server's CPU taken by other processes
// above which a run is repeated (see -retries).
const disturbed = 0.3

// runOne runs one scenario on one server. A run that completed nothing in
// its window, or whose server CPU was mostly busy with other processes, is
// repeated up to st.Retries times; the least disturbed attempt is kept.
// Failed checks are never repeated.
func runOne(sp serverSpec, sc *scenario, rep int, st *settings, logDir string) runResult {
	var best runResult
	var waited time.Duration
	for attempt := 1; attempt <= 1+st.Retries; attempt++ {
		waited += st.awaitQuiet()
		res := runAttempt(sp, sc, rep, attempt, st, logDir)
		res.Attempts = attempt
		retry := false
		switch {
		case res.OK:
			other, known := res.Metrics["other_cpu"]
			retry = known && other > disturbed
			if attempt == 1 || !best.OK || other < best.Metrics["other_cpu"] {
				best = res
			}
		case res.retryable:
			retry = true
			if attempt == 1 {
				best = res
			}
		default:
			best = res // a failed check fails the run, whatever came before
		}
		best.Attempts = attempt
		best.QuietWaitS = waited.Seconds()
		if !retry {
			break
		}
		if attempt <= st.Retries {
			fmt.Printf("  rep %d %-9s %-16s disturbed; running it again\n", rep, sc.Name, sp.Name)
		}
	}
	return best
}

// runAttempt starts a fresh server, runs one scenario on it and stops it.
func runAttempt(sp serverSpec, sc *scenario, rep, attempt int, st *settings, logDir string) runResult {
	res := runResult{Server: sp.Name, Scenario: sc.Name, Rep: rep}
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%s-%d.%d.log", sp.Name, sc.Name, rep, attempt))
	s, err := startServer(sp, st.pin, logPath)
	if err != nil {
		res.Error = err.Error()
		fmt.Printf("  rep %d %-9s %-16s FAILED: %s\n", rep, sc.Name, sp.Name, res.Error)
		return res
	}
	// A scenario bounds its own loops; this is the last resort if one
	// still hangs: killing the server makes every client read fail.
	watchdog := time.AfterFunc(st.Warmup+st.Duration+3*time.Minute, func() {
		fmt.Fprintf(os.Stderr, "watchdog: %s on %s overran; killing the server\n", sc.Name, sp.Name)
		s.stop()
	})
	m, err := sc.run(s, st)
	watchdog.Stop()
	if err == nil {
		err = s.alive()
	}
	s.stop()
	if err != nil {
		res.Error = err.Error()
		res.retryable = errors.Is(err, errNothingDone)
		fmt.Printf("  rep %d %-9s %-16s FAILED: %s\n", rep, sc.Name, sp.Name, res.Error)
		return res
	}
	res.OK, res.Metrics = true, m
	fmt.Printf("  rep %d %-9s %-16s %s\n", rep, sc.Name, sp.Name, brief(sc, m))
	return res
}

// brief is the progress line of one run.
func brief(sc *scenario, m map[string]float64) string {
	var parts []string
	for _, c := range sc.columns {
		if v, ok := m[c.Key]; ok {
			parts = append(parts, c.Label+" "+strconv.FormatFloat(v, 'f', c.Digits, 64))
		}
	}
	return strings.Join(parts, ", ")
}

// choosePinning decides whether servers and load generator are pinned.
func choosePinning(serverCPU, loadCPU int) pinning {
	p := pinning{serverCPU: serverCPU, loadCPU: loadCPU}
	ts, err := exec.LookPath("taskset")
	cores := readMachineInfo().Cores
	switch {
	case err != nil:
		p.note = "NOT pinned: taskset not found (servers still GOMAXPROCS=1)"
	case serverCPU < 0 || loadCPU < 0:
		p.note = "NOT pinned: disabled by a negative CPU number (servers still GOMAXPROCS=1)"
	case serverCPU == loadCPU || serverCPU >= cores || loadCPU >= cores:
		p.note = fmt.Sprintf("NOT pinned: need two distinct CPUs below %d (servers still GOMAXPROCS=1)", cores)
	default:
		p.taskset = ts
		p.note = fmt.Sprintf("servers on CPU %d (GOMAXPROCS=1), load generator on CPU %d, via taskset", serverCPU, loadCPU)
	}
	return p
}

// reexecPinned runs this program again under taskset on the load CPU and
// returns its exit code.
func reexecPinned(pin pinning) int {
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command(pin.taskset, append([]string{"-c", strconv.Itoa(pin.loadCPU), exe}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), pinnedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	signal.Ignore(os.Interrupt, syscall.SIGTERM) // the child handles them
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fatal(err)
	}
	return 0
}

// builtinNames lists the built-in server names.
func builtinNames() string {
	var names []string
	for _, b := range builtins {
		names = append(names, b.name)
	}
	return strings.Join(names, ", ")
}

// pickServers resolves -servers and the NAME=COMMAND arguments.
func pickServers(list, binDir string, args []string) ([]serverSpec, error) {
	var names []string
	switch list {
	case "all":
		names = defaultServers
	case "", "none":
	default:
		names = strings.Split(list, ",")
	}
	var specs []serverSpec
	seen := map[string]bool{}
	add := func(sp serverSpec) error {
		if seen[sp.Name] {
			return fmt.Errorf("server %q given twice", sp.Name)
		}
		seen[sp.Name] = true
		specs = append(specs, sp)
		return nil
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(builtins, func(b struct {
			name string
			argv []string
		}) bool {
			return b.name == n
		})
		if i < 0 {
			return nil, fmt.Errorf("unknown server %q (built-in: %s)", n, builtinNames())
		}
		bin, err := filepath.Abs(filepath.Join(binDir, builtins[i].argv[0]))
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s: %w (build the servers first, e.g. with ./run.sh)", n, err)
		}
		if err := add(serverSpec{Name: n, Argv: append([]string{bin}, builtins[i].argv[1:]...)}); err != nil {
			return nil, err
		}
	}
	for _, a := range args {
		name, command, ok := strings.Cut(a, "=")
		argv := strings.Fields(command)
		if !ok || name == "" || len(argv) == 0 {
			return nil, fmt.Errorf("server argument %q is not NAME=COMMAND", a)
		}
		if err := add(serverSpec{Name: name, Argv: argv}); err != nil {
			return nil, err
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no servers to run")
	}
	return specs, nil
}

// pickScenarios resolves -scenarios.
func pickScenarios(list string) ([]*scenario, error) {
	all := scenarios()
	if list == "all" {
		return all, nil
	}
	var out []*scenario
	for n := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(all, func(s *scenario) bool { return s.Name == strings.TrimSpace(n) })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q", n)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// rerender rewrites the markdown of an earlier results file.
func rerender(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep resultFile
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	rep.attachColumns()
	rep.summarise()
	md := rep.markdown()
	out := strings.TrimSuffix(path, ".json") + ".md"
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}

// gitHead returns the abbreviated commit checked out where compare runs
// (benchmarks/ is inside the library's repository), or "" if unknown. It
// only reads the repository.
func gitHead() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func fatal(err error) {
	stopCurrent()
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(2)
}
