package websocket

import (
	"bytes"
	"compress/flate"
	"fmt"
	"os"
	"testing"
)

// This file measures the encoder on the shared benchmark's JSON chat corpus
// (testdata/chat-corpus.jsonl: the 64 messages of wsload's -corpus json, one
// a line), sent in a cycle over one connection, as the benchmark does.

// loadCorpus returns the messages of testdata/chat-corpus.jsonl.
func loadCorpus(t testing.TB) [][]byte {
	data, err := os.ReadFile("testdata/chat-corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

// corpusCases returns the histories and messages of one cycle through the
// corpus in steady state: with takeover, each message comes after the
// last 1<<windowBits bytes of the cycle before it; without, after nothing.
func corpusCases(msgs [][]byte, windowBits int, takeover bool) (hists, ps [][]byte) {
	var stream []byte
	for range 2 {
		for _, m := range msgs {
			stream = append(stream, m...)
		}
	}
	at := len(stream) / 2
	for _, m := range msgs {
		if takeover {
			hists = append(hists, stream[max(0, at-1<<windowBits):at])
		} else {
			hists = append(hists, nil)
		}
		ps = append(ps, m)
		at += len(m)
	}
	return hists, ps
}

// corpusBytes returns the mean payload size of the messages compressed
// with this encoder, their trailing 00 00 ff ff removed (RFC 7692), and
// checks each with checkRoundTrip.
func corpusBytes(t testing.TB, hists, ps [][]byte, windowBits, level int) float64 {
	d := getDeflater()
	defer putDeflater(d)
	total := 0
	for i, p := range ps {
		out, _ := checkRoundTrip(t, d, hists[i], p, windowBits, level)
		total += len(out) - 4
	}
	return float64(total) / float64(len(ps))
}

// flateCorpusBytes returns the mean payload size of the corpus through
// one compress/flate writer at level (a 32 KiB window, each message ended
// by Flush), or with a fresh writer per message without takeover.
func flateCorpusBytes(t testing.TB, msgs [][]byte, level int, takeover bool) float64 {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for cycle := range 2 {
		for _, m := range msgs {
			if !takeover {
				w.Reset(&buf)
			}
			buf.Reset()
			w.Write(m)
			w.Flush()
			if cycle == 1 {
				total += buf.Len() - 4
			}
		}
	}
	return float64(total) / float64(len(msgs))
}

// TestCorpusBytes logs the compressed size per message of the corpus at
// each level, window size 12 and 15 bits, with and without takeover, and
// compress/flate's for reference; with -v it is the measuring harness.
// It fails if the default level at 12 bits with takeover makes more than
// klauspost/compress does there.
func TestCorpusBytes(t *testing.T) {
	msgs := loadCorpus(t)
	if len(msgs) != 64 {
		t.Fatalf("%d messages in the corpus, want 64", len(msgs))
	}
	in := float64(sumLen(msgs)) / float64(len(msgs))
	t.Logf("corpus: %d messages, %.0f B/msg", len(msgs), in)
	for _, takeover := range []bool{true, false} {
		for _, wb := range []int{12, 15} {
			hists, ps := corpusCases(msgs, wb, takeover)
			line := fmt.Sprintf("ours  window=%d takeover=%-5v", wb, takeover)
			for level := 1; level <= 9; level++ {
				line += fmt.Sprintf(" L%d %.1f", level, corpusBytes(t, hists, ps, wb, level))
			}
			t.Log(line)
		}
		if takeover {
			// At the default level and a 4 KiB window, klauspost/compress
			// (gws, its NewWriterWindow) makes 204.7 bytes of each message.
			hists, ps := corpusCases(msgs, 12, true)
			if got := corpusBytes(t, hists, ps, 12, DefaultCompressionLevel); got > 204.7 {
				t.Errorf("default level, window bits 12, takeover: %.1f B/msg, want at most 204.7", got)
			}
		}
		line := fmt.Sprintf("flate window=15 takeover=%-5v", takeover)
		for level := 1; level <= 9; level++ {
			line += fmt.Sprintf(" L%d %.1f", level, flateCorpusBytes(t, msgs, level, takeover))
		}
		t.Log(line)
	}
}

// BenchmarkDeflateCorpus compresses the corpus messages in turn at the
// default level, as a server with context takeover does, and reports the
// size per message with the 00 00 ff ff that the payload leaves out
// (benchOurs).
func BenchmarkDeflateCorpus(b *testing.B) {
	msgs := loadCorpus(b)
	for _, wb := range []int{12, 15} {
		for _, takeover := range []bool{true, false} {
			hists, ps := corpusCases(msgs, wb, takeover)
			b.Run(fmt.Sprintf("window=%d/takeover=%v", wb, takeover), func(b *testing.B) {
				benchOurs(b, hists, ps, wb, DefaultCompressionLevel)
			})
		}
	}
}

// TestDeflateMatchAtHistoryStart checks matches that start at the first byte
// of the history, where extending them backwards must stop, at the farthest
// distance the window allows and with history shorter than the window, at
// every window size and level.
func TestDeflateMatchAtHistoryStart(t *testing.T) {
	d := getDeflater()
	defer putDeflater(d)
	for wb := 8; wb <= 15; wb++ {
		for _, short := range []int{1, 100} {
			hist := randomBytes(uint64(wb*1000+short), 1<<wb-short, "abcdefghijklmnopqrstuvwxyz")
			// p[short] matches hist[0] at distance 1<<wb; the byte before it
			// in p equals the last of hist, as a backward extension that
			// ignored the history's start would find.
			p := append(bytes.Repeat(hist[len(hist)-1:], short), hist[:len(hist)/2]...)
			for level := 1; level <= 9; level++ {
				out, res := checkRoundTrip(t, d, hist, p, wb, level)
				if res.maxDist != 1<<wb {
					t.Errorf("window bits %d, level %d, %d before: farthest distance %d, want %d (%d bytes)", wb, level, short, res.maxDist, 1<<wb, len(out))
				}
			}
		}
	}
}
