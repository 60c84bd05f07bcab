//go:build linux

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"hash/fnv"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket/internal/browsertest"
)

// This file holds an end-to-end test with a real browser: it builds and runs
// the echo program, starts headless Chromium on its page, and drives the
// browser with the Chrome DevTools Protocol (CDP) over this module's own
// WebSocket client. The script that talks to the echo server runs inside
// the page, so the browser's WebSocket implementation is the client under
// test there, with the same-origin check of the echo server in the way.

// browserTestTimeout bounds the whole test, building the program included.
const browserTestTimeout = 90 * time.Second

// browserBigSize is the size of the large messages the page sends: 1 MiB.
const browserBigSize = 1 << 20

// browserBurst is how many JSON messages the page sends in one burst before
// reading their echoes, which puts many compressed messages in a row on
// each direction of the connection, so that each must decompress with the
// context the ones before it left.
const browserBurst = 500

// browserBigSeed seeds the xorshift32 generator that fills the large binary
// message, in the page and in browserBigSum alike.
const browserBigSeed = 0x9e3779b9

// browserScript runs in the echo page through Runtime.evaluate. It resolves an
// object that browserResult decodes; failures are reported in its error field
// rather than thrown, so that the steps done so far reach the test too.
const browserScript = `(async () => {
	const r = {href: location.href, steps: []};
	const t0 = performance.now();
	const step = s => r.steps.push(Math.round(performance.now() - t0) + " ms: " + s);
	const limit = (p, ms, what) => Promise.race([p, new Promise((_, reject) =>
		setTimeout(() => reject(new Error("timed out after " + ms + " ms waiting for " + what)), ms))]);
	const fnv1a = bytes => {
		let h = 0x811c9dc5;
		for (let i = 0; i < bytes.length; i++) {
			h ^= bytes[i];
			h = Math.imul(h, 0x01000193) >>> 0;
		}
		return h;
	};
	const kind = v => Object.prototype.toString.call(v).slice(8, -1);
	let ws;
	try {
		if (document.readyState !== "complete") {
			await limit(new Promise(res => addEventListener("load", res, {once: true})), 10000, "the page to load");
		}
		ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/", ["chat", "superchat"]);
		ws.binaryType = "arraybuffer";
		const inbox = [], waiting = [];
		let closeInfo = null;
		ws.onmessage = e => {
			if (waiting.length) waiting.shift().resolve(e.data);
			else inbox.push(e.data);
		};
		ws.onerror = () => step("error event");
		const closed = new Promise(res => {
			ws.onclose = e => {
				closeInfo = {code: e.code, reason: e.reason, wasClean: e.wasClean};
				step("close event: code " + e.code + ", wasClean " + e.wasClean);
				for (const w of waiting.splice(0)) w.reject(new Error("connection closed with code " + e.code));
				res(closeInfo);
			};
		});
		const next = what => {
			if (inbox.length) return Promise.resolve(inbox.shift());
			if (closeInfo) return Promise.reject(new Error("connection closed with code " + closeInfo.code + " before " + what));
			return limit(new Promise((resolve, reject) => waiting.push({resolve, reject})), 15000, what);
		};

		await limit(new Promise((res, reject) => {
			ws.onopen = res;
			closed.then(c => reject(new Error("connection closed with code " + c.code + " before it opened")));
		}), 10000, "the connection to open");
		r.opened = true;
		r.protocol = ws.protocol;
		r.extensions = ws.extensions;
		step("open, protocol " + JSON.stringify(ws.protocol) + ", extensions " + JSON.stringify(ws.extensions));

		const text = "hello, w\u00f6rld \u2013 \u2713 \ud83d\ude00";
		ws.send(text);
		const t = await next("the text echo");
		r.textKind = typeof t;
		r.textEqual = t === text;
		step("text echo");

		const bin = new Uint8Array(256);
		for (let i = 0; i < bin.length; i++) bin[i] = 255 - i;
		ws.send(bin.buffer);
		const b = await next("the binary echo");
		r.binaryKind = kind(b);
		r.binaryLen = b.byteLength;
		r.binaryEqual = b instanceof ArrayBuffer && b.byteLength === bin.length &&
			new Uint8Array(b).every((v, i) => v === bin[i]);
		step("binary echo");

		const big = new Uint8Array(BIG_SIZE);
		let x = BIG_SEED;
		for (let i = 0; i < big.length; i++) {
			x ^= x << 13;
			x ^= x >>> 17;
			x ^= x << 5;
			x >>>= 0;
			big[i] = x & 255;
		}
		r.bigSentLen = big.length;
		r.bigSentSum = fnv1a(big);
		ws.send(big.buffer);
		const bb = await next("the 1 MiB binary echo");
		r.bigKind = kind(bb);
		r.bigRecvLen = bb.byteLength;
		r.bigRecvSum = bb instanceof ArrayBuffer ? fnv1a(new Uint8Array(bb)) : 0;
		step("1 MiB binary echo");

		const unit = "0123456789 abcdef \u00c4\u00d6\u00dc \u20ac \ud83d\ude00\n";
		const bigText = unit.repeat(Math.ceil(BIG_SIZE / unit.length));
		const enc = new TextEncoder();
		const bigTextBytes = enc.encode(bigText);
		r.bigTextSentLen = bigTextBytes.length;
		r.bigTextSentSum = fnv1a(bigTextBytes);
		ws.send(bigText);
		const bt = await next("the 1 MiB text echo");
		r.bigTextKind = typeof bt;
		if (typeof bt === "string") {
			const got = enc.encode(bt);
			r.bigTextRecvLen = got.length;
			r.bigTextRecvSum = fnv1a(got);
		}
		r.bigTextEqual = bt === bigText;
		step("1 MiB text echo");

		// A burst of chat-like JSON, 200 to 700 bytes each, keys and
		// phrases repeating, with some 100 KiB binary messages among them.
		const users = ["ana", "bj\u00f8rn", "chlo\u00e9", "dmitrij", "\u00e9mile", "fatima", "g\u014d"];
		const words = ["hello", "the deploy is green", "lunch?", "see the dashboard", "ship it", "\ud83d\udc4d",
			"who broke main", "\u043f\u0440\u0438\u0432\u0435\u0442", "looks good to me"];
		const burst = [];
		for (let i = 0; i < BURST; i++) {
			if (i % 100 === 50) {
				const b = new Uint8Array(100 * 1024);
				for (let j = 0; j < b.length; j++) b[j] = (j * 31 + i) & 255;
				burst.push(b);
				continue;
			}
			const blocks = [];
			for (let j = 0; j <= i % 6; j++) blocks.push({kind: "text", text: words[(i + j * 3) % words.length], bold: j % 2 === 0});
			burst.push(JSON.stringify({type: "message", id: i, channel: "general",
				ts: new Date(Date.UTC(2025, 0, 1, 12, i % 60, (i * 7) % 60)).toISOString(),
				user: {name: users[i % users.length], avatar: "https://cdn.example.com/avatars/" + users[i % users.length] + "/128.png"},
				blocks, read_by: users.slice(0, 1 + i % users.length)}));
		}
		for (const m of burst) ws.send(m);
		r.burstSent = burst.length;
		r.burstEqual = 0;
		for (let i = 0; i < burst.length; i++) {
			const e = await next("echo " + i + " of the burst");
			const want = burst[i];
			if (typeof want === "string" ? e === want :
				e instanceof ArrayBuffer && e.byteLength === want.length && new Uint8Array(e).every((v, j) => v === want[j])) {
				r.burstEqual++;
			} else if (r.burstFirstBad === undefined) {
				r.burstFirstBad = i;
			}
		}
		step("burst of " + burst.length + " echoes");

		ws.close(1000, "done");
		const c = await limit(closed, 10000, "the close event");
		r.closeCode = c.code;
		r.closeReason = c.reason;
		r.wasClean = c.wasClean;
	} catch (e) {
		r.error = String((e && e.stack) || e);
		if (ws && ws.readyState < 2) ws.close();
	}
	return r;
})()`

// browserResult is what browserScript resolves.
type browserResult struct {
	Href       string   `json:"href"`
	Steps      []string `json:"steps"`
	Error      string   `json:"error"`
	Opened     bool     `json:"opened"`
	Protocol   string   `json:"protocol"`
	Extensions string   `json:"extensions"`

	TextKind  string `json:"textKind"`
	TextEqual bool   `json:"textEqual"`

	BinaryKind  string `json:"binaryKind"`
	BinaryLen   int    `json:"binaryLen"`
	BinaryEqual bool   `json:"binaryEqual"`

	BigSentLen int    `json:"bigSentLen"`
	BigSentSum uint32 `json:"bigSentSum"`
	BigKind    string `json:"bigKind"`
	BigRecvLen int    `json:"bigRecvLen"`
	BigRecvSum uint32 `json:"bigRecvSum"`

	BigTextSentLen int    `json:"bigTextSentLen"`
	BigTextSentSum uint32 `json:"bigTextSentSum"`
	BigTextKind    string `json:"bigTextKind"`
	BigTextRecvLen int    `json:"bigTextRecvLen"`
	BigTextRecvSum uint32 `json:"bigTextRecvSum"`
	BigTextEqual   bool   `json:"bigTextEqual"`

	BurstSent     int  `json:"burstSent"`
	BurstEqual    int  `json:"burstEqual"`
	BurstFirstBad *int `json:"burstFirstBad"`

	CloseCode   int    `json:"closeCode"`
	CloseReason string `json:"closeReason"`
	WasClean    bool   `json:"wasClean"`
}

// TestBrowserEcho runs the echo program and has headless Chromium's own
// WebSocket talk to it from the echo page: subprotocol choice, the
// permessage-deflate that Chromium offers by default and the echo accepts,
// text, binary and 1 MiB echoes, a burst of 500 messages, and a clean
// close.
func TestBrowserEcho(t *testing.T) {
	logs := browserEcho(t, nil)
	if !strings.Contains(logs, "handshake HTTP/1.1 GET") {
		t.Errorf("the echo program logged no HTTP/1.1 handshake:\n%s", logs)
	}
}

// TestBrowserEchoHTTP2 does the same over HTTPS, with a certificate the test
// makes, and extended CONNECT on in the echo program: Chromium, which loads
// the page over HTTP/2, must open its wss:// connection as a stream of that
// connection (RFC 8441), and the echo program must log it so.
func TestBrowserEchoHTTP2(t *testing.T) {
	logs := browserEcho(t, selfSignedCert(t))
	if !strings.Contains(logs, "handshake HTTP/2.0 CONNECT") {
		t.Errorf("the WebSocket did not come as an HTTP/2 extended CONNECT; the echo program logged:\n%s", logs)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and localhost, signed
// by its own key, and returns the paths of its PEM file and the key's.
func selfSignedCert(t *testing.T) []string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "echo test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
	for i, b := range []*pem.Block{{Type: "CERTIFICATE", Bytes: der}, {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(files[i], pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// browserEcho runs the browser test, over HTTPS with HTTP/2 if tlsFiles
// names a certificate and key, and returns what the echo program logged.
func browserEcho(t *testing.T, tlsFiles []string) string {
	browsertest.SkipWithoutChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	// Cancelling kills the processes: only after the cleanup that closes
	// the page's DevTools connection.
	t.Cleanup(cancel)
	start := time.Now()
	phase := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }

	bin := browsertest.BuildProgram(ctx, t, ".", "echo")
	phase("built the echo program")
	startURL, echoLog := startEchoBinary(ctx, t, bin, tlsFiles)
	phase("echo program serves " + startURL)

	browser := browsertest.StartChromium(ctx, t, startURL)
	phase("Chromium's DevTools listen at " + browser.DevToolsHost)
	cdp := browser.Page(ctx, t, startURL)
	phase("page loaded")

	var res browserResult
	if err := cdp.Evaluate(ctx, browserScriptText(), &res); err != nil {
		t.Fatalf("running the script in the page: %v", err)
	}
	phase("script in the page finished")
	checkBrowserResult(t, res, startURL)
	checkPageClose(ctx, t, cdp)
	// The handler logged its connection's opening before it echoed.
	if want := `subprotocol="chat" permessage-deflate=true`; !strings.Contains(echoLog.String(), want) {
		t.Errorf("the echo program's log lacks %q", want)
	}
	if t.Failed() {
		var ui string
		if err := cdp.Evaluate(ctx, `document.body ? document.body.innerText.slice(0, 4000) : ""`, &ui); err != nil {
			t.Logf("reading the page's text: %v", err)
		} else {
			t.Logf("the page's own text:\n%s", ui)
		}
	}
	// The echo program logs the connection's end before the close
	// handshake's last frame reaches the page, so it is in the log now.
	return echoLog.String()
}

// pageCloseScript closes the page's own connection with its Close button,
// once it is open, and resolves the text of the log line of the close
// event, or an error.
const pageCloseScript = `new Promise(resolve => {
	const log = document.getElementById("log");
	let timer, clicked = false;
	const step = () => {
		if (!clicked && document.getElementById("state").textContent === "open") {
			clicked = true;
			document.getElementById("disconnect").click();
		}
		const line = Array.from(log.children, li => li.textContent).find(s => s.includes("closed: "));
		if (line) { obs.disconnect(); clearTimeout(timer); resolve(line); }
	};
	const obs = new MutationObserver(step);
	obs.observe(document.body, {childList: true, subtree: true, characterData: true});
	timer = setTimeout(() => { obs.disconnect(); resolve("timed out; the log shows: " + log.innerText.slice(-1000)); }, 10000);
	step();
})`

// checkPageClose has the page close its own connection with its Close
// button, and checks that its log shows the close this page sent, with its
// reason, beside the server's answer.
func checkPageClose(ctx context.Context, t *testing.T, cdp *browsertest.Page) {
	t.Helper()
	var line string
	if err := cdp.Evaluate(ctx, pageCloseScript, &line); err != nil {
		t.Fatalf("closing from the page: %v", err)
	}
	if want := `closed: we sent code 1000, reason "bye from the page"; the server's close had code 1000`; !strings.Contains(line, want) {
		t.Errorf("the page's close line is %q, want it to contain %q", line, want)
	}
}

// checkBrowserResult logs the steps the script took and asserts every field
// of its result.
func checkBrowserResult(t *testing.T, r browserResult, startURL string) {
	t.Helper()
	t.Logf("script steps in the page:\n\t%s", strings.Join(r.Steps, "\n\t"))
	if r.Href != startURL {
		t.Errorf("script ran in %q, want the echo page %q", r.Href, startURL)
	}
	if r.Error != "" {
		t.Errorf("script failed: %s", r.Error)
	}
	if !r.Opened {
		t.Fatalf("the browser's WebSocket did not open")
	}
	if r.Protocol != "chat" {
		t.Errorf("protocol = %q, want \"chat\"", r.Protocol)
	}
	if !strings.HasPrefix(r.Extensions, "permessage-deflate") {
		t.Errorf("extensions = %q, want permessage-deflate, which Chromium offers by default", r.Extensions)
	}
	if r.TextKind != "string" || !r.TextEqual {
		t.Errorf("text echo: came back as %q, equal %v; want an equal string", r.TextKind, r.TextEqual)
	}
	if r.BinaryKind != "ArrayBuffer" || r.BinaryLen != 256 || !r.BinaryEqual {
		t.Errorf("binary echo: came back as %q of %d bytes, equal %v; want an equal ArrayBuffer of 256 bytes",
			r.BinaryKind, r.BinaryLen, r.BinaryEqual)
	}
	want := browserBigSum()
	if r.BigSentLen != browserBigSize || r.BigSentSum != want {
		t.Errorf("1 MiB binary: the page sent %d bytes with FNV-1a %#08x; want %d bytes with %#08x (the page's generator or checksum is off)",
			r.BigSentLen, r.BigSentSum, browserBigSize, want)
	}
	if r.BigKind != "ArrayBuffer" || r.BigRecvLen != browserBigSize || r.BigRecvSum != want {
		t.Errorf("1 MiB binary echo: came back as %q of %d bytes with FNV-1a %#08x; want an ArrayBuffer of %d bytes with %#08x",
			r.BigKind, r.BigRecvLen, r.BigRecvSum, browserBigSize, want)
	}
	if r.BigTextSentLen < browserBigSize {
		t.Errorf("1 MiB text: the page sent only %d bytes", r.BigTextSentLen)
	}
	if r.BigTextKind != "string" || !r.BigTextEqual || r.BigTextRecvLen != r.BigTextSentLen || r.BigTextRecvSum != r.BigTextSentSum {
		t.Errorf("1 MiB text echo: came back as %q of %d UTF-8 bytes with FNV-1a %#08x, equal %v; sent %d bytes with %#08x",
			r.BigTextKind, r.BigTextRecvLen, r.BigTextRecvSum, r.BigTextEqual, r.BigTextSentLen, r.BigTextSentSum)
	}
	if r.BurstSent != browserBurst || r.BurstEqual != browserBurst {
		first := -1
		if r.BurstFirstBad != nil {
			first = *r.BurstFirstBad
		}
		t.Errorf("burst: %d of %d echoes equal (first bad: %d); want all %d", r.BurstEqual, r.BurstSent, first, browserBurst)
	}
	if r.CloseCode != 1000 || !r.WasClean {
		t.Errorf("close event: code %d, reason %q, wasClean %v; want code 1000, wasClean true",
			r.CloseCode, r.CloseReason, r.WasClean)
	}
}

// browserBigSum computes, independently of the page, the FNV-1a checksum of
// the 1 MiB binary message browserScript generates.
func browserBigSum() uint32 {
	data := make([]byte, browserBigSize)
	x := uint32(browserBigSeed)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	h := fnv.New32a()
	h.Write(data)
	return h.Sum32()
}

// browserScriptText returns browserScript with its placeholders replaced by the
// constants it shares with browserBigSum.
func browserScriptText() string {
	return strings.NewReplacer(
		"BIG_SIZE", fmt.Sprint(browserBigSize),
		"BIG_SEED", fmt.Sprintf("%#x", browserBigSeed),
		"BURST", fmt.Sprint(browserBurst),
	).Replace(browserScript)
}

// buildEchoBinary builds the echo program into a temporary directory and returns
// the binary's path.
// startEchoBinary runs the echo program bin on a free loopback port, over
// HTTPS with extended CONNECT on if tlsFiles names a certificate and key,
// and waits until it serves its page. It returns the page's URL and the
// program's output.
func startEchoBinary(ctx context.Context, t *testing.T, bin string, tlsFiles []string) (string, *browsertest.TailBuffer) {
	t.Helper()
	addr := browsertest.FreeAddr(t)
	args, scheme := []string{"-addr", addr}, "http"
	client := &http.Client{Timeout: time.Second}
	if tlsFiles != nil {
		args, scheme = append(args, "-cert", tlsFiles[0], "-key", tlsFiles[1]), "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	pageURL := scheme + "://" + addr + "/"
	cmd := exec.CommandContext(ctx, bin, args...)
	// net/http reads GODEBUG as the program starts; Go 1.26 has no other
	// way to turn extended CONNECT on.
	cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=1")
	return pageURL, browsertest.StartServer(ctx, t, cmd, "the echo program", pageURL, client)
}
