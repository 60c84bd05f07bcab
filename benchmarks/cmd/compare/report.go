package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// runResult is one scenario run on one server in one repetition.
type runResult struct {
	Server     string             `json:"server"`
	Scenario   string             `json:"scenario"`
	Rep        int                `json:"rep"`
	Attempts   int                `json:"attempts"`
	QuietWaitS float64            `json:"quiet_wait_s"`
	OK         bool               `json:"ok"`
	Error      string             `json:"error,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`

	retryable bool // failed in a way that may pass on another attempt
}

// summary aggregates the runs of one server and scenario.
type summary struct {
	Server   string             `json:"server"`
	Scenario string             `json:"scenario"`
	OKRuns   int                `json:"ok_runs"`
	Failed   int                `json:"failed_runs"`
	Median   map[string]float64 `json:"median,omitempty"` // of each metric on its own
	// MedianRep is the repetition whose main number is the median (the
	// lower middle one for an even count), and MedianRun its metrics: a
	// consistent row for the detail tables.
	MedianRep int                `json:"median_rep,omitempty"`
	MedianRun map[string]float64 `json:"median_run,omitempty"`
	Min       map[string]float64 `json:"min,omitempty"`
	Max       map[string]float64 `json:"max,omitempty"`
	Errors    []string           `json:"errors,omitempty"`
}

// resultFile is the JSON written for a run of compare; cmd/chart reads it.
type resultFile struct {
	Date      string        `json:"date"`
	Elapsed   string        `json:"elapsed"`
	Machine   machineInfo   `json:"machine"`
	Commit    string        `json:"commit"` // git HEAD where compare ran: the library's version
	Settings  settings      `json:"settings"`
	Reps      int           `json:"reps"`
	Servers   []serverSpec  `json:"servers"`
	Scenarios []*scenario   `json:"scenarios"`
	Checks    []checkResult `json:"checks,omitempty"`
	Runs      []runResult   `json:"runs"`
	Summary   []summary     `json:"summary"`
}

// summarise computes medians, minima and maxima of every metric.
func (r *resultFile) summarise() {
	r.Summary = nil
	for _, sc := range r.Scenarios {
		for _, sp := range r.Servers {
			s := summary{Server: sp.Name, Scenario: sc.Name}
			vals := map[string][]float64{}
			var good []runResult
			for _, run := range r.Runs {
				if run.Server != sp.Name || run.Scenario != sc.Name {
					continue
				}
				if !run.OK {
					s.Failed++
					s.Errors = append(s.Errors, fmt.Sprintf("rep %d: %s", run.Rep, run.Error))
					continue
				}
				s.OKRuns++
				good = append(good, run)
				for k, v := range run.Metrics {
					vals[k] = append(vals[k], v)
				}
			}
			if s.OKRuns > 0 {
				s.Median, s.Min, s.Max = map[string]float64{}, map[string]float64{}, map[string]float64{}
				for k, v := range vals {
					slices.Sort(v)
					s.Median[k] = median(v)
					s.Min[k], s.Max[k] = v[0], v[len(v)-1]
				}
				slices.SortStableFunc(good, func(a, b runResult) int {
					return cmp.Compare(a.Metrics[sc.Metric], b.Metrics[sc.Metric])
				})
				mid := good[(len(good)-1)/2]
				s.MedianRep, s.MedianRun = mid.Rep, mid.Metrics
			}
			r.Summary = append(r.Summary, s)
		}
	}
}

// median of sorted values.
func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// find returns the summary of a server and scenario.
func (r *resultFile) find(server, scen string) *summary {
	for i := range r.Summary {
		if r.Summary[i].Server == server && r.Summary[i].Scenario == scen {
			return &r.Summary[i]
		}
	}
	return nil
}

// attachColumns restores the table layout of scenarios read from JSON.
func (r *resultFile) attachColumns() {
	all := scenarios()
	for _, sc := range r.Scenarios {
		if i := slices.IndexFunc(all, func(s *scenario) bool { return s.Name == sc.Name }); i >= 0 {
			sc.columns = all[i].columns
		}
	}
}

// writeResults writes JSON and markdown and returns how many runs and
// checks failed.
func writeResults(r *resultFile, dir, stamp string) (int, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return 0, err
	}
	b = append(b, '\n')
	md := []byte(r.markdown())
	for name, data := range map[string][]byte{
		stamp + ".json": b, "latest.json": b,
		stamp + ".md": md, "latest.md": md,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return 0, err
		}
	}
	fmt.Printf("wrote %s and %s (and latest.*)\n", filepath.Join(dir, stamp+".json"), filepath.Join(dir, stamp+".md"))
	failed := 0
	for _, run := range r.Runs {
		if !run.OK {
			failed++
		}
	}
	for _, c := range r.Checks {
		if !c.OK {
			failed++
		}
	}
	return failed, nil
}

// fmtNum formats v with d decimals and thousands separators.
func fmtNum(v float64, d int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.*f", d, v)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var g []string
	for len(intPart) > 3 {
		g = append([]string{intPart[len(intPart)-3:]}, g...)
		intPart = intPart[:len(intPart)-3]
	}
	g = append([]string{intPart}, g...)
	out := strings.Join(g, ",")
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

// markdown renders the report.
func (r *resultFile) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("# WebSocket echo servers compared\n\n")
	p("Run %s (UTC), %s, %d repetition(s), medians shown.\n\n", strings.Replace(r.Date, "T", " ", 1), r.Elapsed, r.Reps)
	p("- Machine: %s, %d cores, %s RAM, Linux %s; load average at start %s\n", m.CPUModel, m.Cores, m.MemTotal, m.Kernel, m.LoadAvg)
	p("- Go: %s\n", m.GoVersion)
	if r.Commit != "" {
		p("- Library: commit %s of the working tree run.sh built wsecho from\n", r.Commit)
	}
	p("- Placement: %s\n", m.Pinning)
	p("- Windows: %.1f s warm-up, %.1f s measured; idle: %d connections; handshakes: %d in flight\n",
		r.Settings.Warmup.Seconds(), r.Settings.Duration.Seconds(), r.Settings.IdleConns, r.Settings.HSWorkers)
	p("- Servers: ")
	for i, sp := range r.Servers {
		if i > 0 {
			p(", ")
		}
		p("%s (`%s`)", sp.Name, filepath.Base(sp.Argv[0])+strings.TrimSuffix(" "+strings.Join(sp.Argv[1:], " "), " "))
	}
	p("\n\n")

	base := ""
	if len(r.Servers) > 0 {
		base = r.Servers[0].Name
	}
	p("## Summary: server cost (lower is better)\n\n")
	p("Median of each scenario's main number; in brackets the ratio to %s.\n\n", base)
	p("| server |")
	for _, sc := range r.Scenarios {
		p(" %s: %s |", sc.Name, sc.Unit+" "+shortLabel(sc))
	}
	p("\n|---|")
	for range r.Scenarios {
		p("---:|")
	}
	p("\n")
	for _, sp := range r.Servers {
		p("| %s |", sp.Name)
		for _, sc := range r.Scenarios {
			p(" %s |", r.cell(sp.Name, sc, base))
		}
		p("\n")
	}
	p("\n")

	for _, sc := range r.Scenarios {
		p("## %s: %s\n\n", sc.Name, sc.Description)
		if r.Reps > 1 {
			p("Each row is the server's median repetition by %s.\n\n", columnLabel(sc, sc.Metric))
		}
		p("| server |")
		for _, c := range sc.columns {
			p(" %s |", c.Label)
		}
		p(" spread of %s |\n|---|", shortLabel(sc))
		for range sc.columns {
			p("---:|")
		}
		p("---:|\n")
		for _, sp := range r.Servers {
			s := r.find(sp.Name, sc.Name)
			p("| %s |", sp.Name)
			if s == nil || s.OKRuns == 0 {
				for range sc.columns {
					p(" FAILED |")
				}
				p(" |\n")
				continue
			}
			for _, c := range sc.columns {
				if v, ok := s.MedianRun[c.Key]; ok {
					p(" %s |", fmtNum(v, c.Digits))
				} else {
					p(" – |")
				}
			}
			p(" %s |\n", spread(s, sc.Metric))
		}
		p("\n")
	}

	if len(r.Checks) > 0 {
		p("## Checks (once per server, not timed)\n\n")
		p("| server | text message with invalid UTF-8 | one 64 MiB binary message |\n|---|---|---|\n")
		for _, c := range r.Checks {
			p("| %s | %s | %s |\n", c.Server, c.InvalidUTF8, c.Big64MiB)
		}
		p("\n")
	}

	var failures []string
	for _, s := range r.Summary {
		for _, e := range s.Errors {
			failures = append(failures, fmt.Sprintf("- %s / %s, %s", s.Server, s.Scenario, e))
		}
	}
	if len(failures) > 0 {
		p("## Failed runs\n\n%s\n\n", strings.Join(failures, "\n"))
	}

	p("## Columns\n\n")
	p("- srv µs/msg, srv ms/MB, srv µs/handshake: the server process's CPU time (user + system, all threads, from /proc/PID/stat) over the measured window, divided by the messages echoed, the MB (10^6 bytes of payload received and sent back) echoed, or the handshakes completed.\n")
	p("- msgs/s, MB/s, handshakes/s: completed in the window. They depend on the load generator and the neighbours as much as on the server; prefer the CPU-cost columns.\n")
	p("- srv CPU, load CPU: CPU time of the server and of the load generator as a fraction of one core over the window. A server near 1.00 is the bottleneck.\n")
	p("- other on srv CPU: busy time of the server's CPU (/proc/stat) not charged to the server: other processes and interrupts. A high value marks a disturbed run.\n")
	p("- longest stall ms: the longest stretch of the window (checked every 5 ms) in which nothing completed.\n")
	p("- KiB/conn: VmRSS growth of the server divided by the connections, 1 s after they were all upgraded, and 1 s after one 1 KiB echo on each.\n")
	p("- spread: (max − min) / median of the main number over the repetitions.\n")
	if r.Settings.Retries > 0 {
		p("- A run in which other processes took more than %.0f %% of the server's CPU, or in which nothing completed, was run again (up to %d more time(s)) and the least disturbed attempt kept; %d of %d runs needed it.\n", disturbed*100, r.Settings.Retries, r.retried(), len(r.Runs))
	}
	if r.Settings.QuietWait > 0 {
		waited := 0.0
		for _, run := range r.Runs {
			waited += run.QuietWaitS
		}
		p("- Before each run the runner waited (up to %s) for both CPUs to be less than %.0f %% busy; %.0f s in all.\n", r.Settings.QuietWait, quietBusy*100, waited)
	}
	return b.String()
}

// retried counts the runs that took more than one attempt.
func (r *resultFile) retried() int {
	n := 0
	for _, run := range r.Runs {
		if run.Attempts > 1 {
			n++
		}
	}
	return n
}

// columnLabel is the table header of a metric of sc.
func columnLabel(sc *scenario, key string) string {
	for _, c := range sc.columns {
		if c.Key == key {
			return c.Label
		}
	}
	return key
}

// shortLabel is the short name of a scenario's main number.
func shortLabel(sc *scenario) string {
	switch sc.Metric {
	case "srv_us_per_msg":
		return "per msg"
	case "srv_ms_per_mb":
		return "per MB"
	case "idle_kib_per_conn":
		return "per idle conn"
	case "srv_us_per_hs":
		return "per handshake"
	}
	return sc.Metric
}

// cell is a summary table cell: the median and the ratio to base.
func (r *resultFile) cell(server string, sc *scenario, base string) string {
	s := r.find(server, sc.Name)
	if s == nil || s.OKRuns == 0 {
		return "FAILED"
	}
	v, ok := s.Median[sc.Metric]
	if !ok {
		return "–"
	}
	out := fmtNum(v, digitsFor(v))
	if bs := r.find(base, sc.Name); bs != nil && bs.OKRuns > 0 && bs.Median[sc.Metric] > 0 {
		out += fmt.Sprintf(" (×%.2f)", v/bs.Median[sc.Metric])
	}
	if s.Failed > 0 {
		out += fmt.Sprintf(" [%d failed]", s.Failed)
	}
	return out
}

// digitsFor picks decimals that keep three significant digits or so.
func digitsFor(v float64) int {
	switch a := math.Abs(v); {
	case a >= 100:
		return 0
	case a >= 10:
		return 1
	case a >= 1:
		return 2
	default:
		return 3
	}
}

// spread formats (max-min)/median of metric.
func spread(s *summary, metric string) string {
	med, ok := s.Median[metric]
	if !ok || med == 0 || s.OKRuns < 2 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", 100*(s.Max[metric]-s.Min[metric])/math.Abs(med))
}
