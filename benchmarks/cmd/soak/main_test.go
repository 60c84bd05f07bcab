package main

import (
	"bytes"
	"testing"
	"time"
)

// TestSoakSmoke runs the soak test for 2 s with a few connections that end
// often, one server replacement included, and expects it to pass with
// every kind of ending seen.
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 3 s")
	}
	cfg := config{
		conns: 16, duration: 2 * time.Second, rate: 20, writers: 2,
		life: 300 * time.Millisecond, srvLife: 400 * time.Millisecond,
		shutdownEvery: 900 * time.Millisecond, shutdownTimeout: time.Second, closeTimeout: time.Second,
		pingEvery: 200 * time.Millisecond, ramp: 100 * time.Millisecond, progress: time.Second,
		maxSize: 256 << 10, tap: 0.5,
	}
	var out bytes.Buffer
	s, ok := run(cfg, &out)
	if !ok {
		t.Fatalf("soak run failed:\n%s", out.String())
	}
	if s.echoed.Load() == 0 || s.shutdowns.Load() < 2 || s.srvPongs.Load() == 0 || s.cliPongs.Load() == 0 {
		t.Errorf("too little happened:\n%s", out.String())
	}
	for i, name := range outcomeNames[:endAborted+1] {
		if s.closeOutcomes[i].Load() == 0 && outcome(i) != endBothClose {
			t.Errorf("no connection ended by %s:\n%s", name, out.String())
		}
	}
}
