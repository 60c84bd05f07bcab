package websocket

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// pd is the extension name, to keep the tables short.
const pd = "permessage-deflate"

// params15 is the result with no parameter at all.
var params15 = deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}

// TestNegotiateDeflate checks the server's answer, exactly, to many request
// headers: the policy of acceptDeflateOffer, the order of offers, and every
// reason to decline an offer or a whole header.
func TestNegotiateDeflate(t *testing.T) {
	def := deflateConfig{}
	noCtx := deflateConfig{noContextTakeover: true}
	w12 := deflateConfig{windowBits: 12}
	tests := []struct {
		name  string
		lines []string
		cfg   deflateConfig
		want  string // "" means declined
		p     deflateParams
	}{
		{"no header", nil, def, "", deflateParams{}},
		{"empty line", []string{""}, def, "", deflateParams{}},
		{"only commas", []string{" , ,\t,"}, def, "", deflateParams{}},
		{"bare", []string{pd}, def, pd, params15},
		{"client window no value", []string{pd + "; client_max_window_bits"}, def, pd, params15},
		{"client window value", []string{pd + "; client_max_window_bits=10"}, def, pd,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10}},
		{"server window asked", []string{pd + "; server_max_window_bits=10"}, def, pd + "; server_max_window_bits=10",
			deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"server window 15 asked is answered", []string{pd + "; server_max_window_bits=15"}, def, pd + "; server_max_window_bits=15", params15},
		{"server window 8", []string{pd + "; server_max_window_bits=8"}, def, pd + "; server_max_window_bits=8",
			deflateParams{serverMaxWindowBits: 8, clientMaxWindowBits: 15}},
		{"server no context echoed", []string{pd + "; server_no_context_takeover"}, def, pd + "; server_no_context_takeover",
			deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"client no context echoed", []string{pd + "; client_no_context_takeover"}, def, pd + "; client_no_context_takeover",
			deflateParams{clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"all four", []string{pd + "; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=12"}, def,
			pd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
			deflateParams{true, true, 12, 9}},
		{"cfg no context", []string{pd}, noCtx, pd + "; server_no_context_takeover; client_no_context_takeover",
			deflateParams{true, true, 15, 15}},
		{"cfg no context, offer both", []string{pd + "; server_no_context_takeover; client_no_context_takeover"}, noCtx,
			pd + "; server_no_context_takeover; client_no_context_takeover", deflateParams{true, true, 15, 15}},
		{"cfg window 0 is 15", []string{pd + "; client_max_window_bits"}, deflateConfig{windowBits: 0}, pd, params15},
		{"cfg window out of range is 15", []string{pd + "; client_max_window_bits"}, deflateConfig{windowBits: 16}, pd, params15},
		{"cfg window 12, bare offer", []string{pd}, w12, pd + "; server_max_window_bits=12",
			deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 15}},
		{"cfg window 12, client window no value", []string{pd + "; client_max_window_bits"}, w12,
			pd + "; server_max_window_bits=12; client_max_window_bits=12", deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 12}},
		{"cfg window 12, client window 13", []string{pd + "; client_max_window_bits=13"}, w12,
			pd + "; server_max_window_bits=12; client_max_window_bits=12", deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 12}},
		{"cfg window 12, client window 10 kept", []string{pd + "; client_max_window_bits=10"}, w12,
			pd + "; server_max_window_bits=12", deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 10}},
		{"cfg window 12, server window 9", []string{pd + "; server_max_window_bits=9"}, w12,
			pd + "; server_max_window_bits=9", deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15}},
		{"cfg window 12, server window 14", []string{pd + "; server_max_window_bits=14"}, w12,
			pd + "; server_max_window_bits=12", deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 15}},
		{"cfg all", []string{pd + "; client_max_window_bits"}, deflateConfig{noContextTakeover: true, windowBits: 8},
			pd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
			deflateParams{true, true, 8, 8}},

		// Offers in order, lines in order, other extensions skipped.
		{"first valid offer wins", []string{pd + "; server_max_window_bits=10, " + pd}, def, pd + "; server_max_window_bits=10",
			deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"invalid offer, fallback", []string{pd + "; server_max_window_bits=10; foo, " + pd + "; client_max_window_bits"}, def, pd, params15},
		{"fallback on next line", []string{pd + "; server_max_window_bits", pd + "; server_no_context_takeover"}, def,
			pd + "; server_no_context_takeover", deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"other extensions skipped", []string{"x-webkit-deflate-frame, foo; a=1; b=\"c\"", "bar, " + pd + "; client_max_window_bits=8"}, def, pd,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 8}},
		{"other extension only", []string{"x-webkit-deflate-frame"}, def, "", deflateParams{}},

		// Values and white space.
		{"quoted value", []string{pd + `; server_max_window_bits="10"`}, def, pd + "; server_max_window_bits=10",
			deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"quoted value with quoted-pair", []string{pd + `; client_max_window_bits="1\1"`}, def, pd,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 11}},
		{"white space everywhere", []string{" \t" + pd + " ;\tclient_max_window_bits = 10 ;server_no_context_takeover\t, "}, def,
			pd + "; server_no_context_takeover", deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 10}},
		{"no space at all", []string{pd + ";server_max_window_bits=9;client_max_window_bits"}, def, pd + "; server_max_window_bits=9",
			deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15}},
		{"empty elements", []string{",, ," + pd + " , ,"}, def, pd, params15},

		// Names are case-sensitive.
		{"name case", []string{"Permessage-Deflate"}, def, "", deflateParams{}},
		{"param case", []string{pd + "; Server_No_Context_Takeover"}, def, "", deflateParams{}},

		// Offers declined (RFC 7692 section 5).
		{"unknown param", []string{pd + "; foo"}, def, "", deflateParams{}},
		{"unknown param with value", []string{pd + "; mem_level=8"}, def, "", deflateParams{}},
		{"repeated flag", []string{pd + "; server_no_context_takeover; server_no_context_takeover"}, def, "", deflateParams{}},
		{"repeated client flag", []string{pd + "; client_no_context_takeover; client_no_context_takeover"}, def, "", deflateParams{}},
		{"repeated client window", []string{pd + "; client_max_window_bits; client_max_window_bits"}, def, "", deflateParams{}},
		{"repeated client window values", []string{pd + "; client_max_window_bits=9; client_max_window_bits=9"}, def, "", deflateParams{}},
		{"repeated server window", []string{pd + "; server_max_window_bits=9; server_max_window_bits=10"}, def, "", deflateParams{}},
		{"server window no value", []string{pd + "; server_max_window_bits"}, def, "", deflateParams{}},
		{"window 7", []string{pd + "; server_max_window_bits=7"}, def, "", deflateParams{}},
		{"window 16", []string{pd + "; client_max_window_bits=16"}, def, "", deflateParams{}},
		{"window 08", []string{pd + "; client_max_window_bits=08"}, def, "", deflateParams{}},
		{"window 0", []string{pd + "; server_max_window_bits=0"}, def, "", deflateParams{}},
		{"window 150", []string{pd + "; server_max_window_bits=150"}, def, "", deflateParams{}},
		{"window 2^64+8", []string{pd + "; server_max_window_bits=18446744073709551624"}, def, "", deflateParams{}},
		{"window +9", []string{pd + "; server_max_window_bits=+9"}, def, "", deflateParams{}},
		{"window 9.0", []string{pd + "; server_max_window_bits=9.0"}, def, "", deflateParams{}},
		{"window abc", []string{pd + "; client_max_window_bits=abc"}, def, "", deflateParams{}},
		{"window quoted 08", []string{pd + `; client_max_window_bits="08"`}, def, "", deflateParams{}},
		{"value on server flag", []string{pd + "; server_no_context_takeover=1"}, def, "", deflateParams{}},
		{"quoted value on client flag", []string{pd + `; client_no_context_takeover="x"`}, def, "", deflateParams{}},

		// Headers that break the grammar are declined as a whole.
		{"empty value", []string{pd + "; client_max_window_bits="}, def, "", deflateParams{}},
		{"empty quoted value", []string{pd + `; client_max_window_bits=""`}, def, "", deflateParams{}},
		{"unclosed quote", []string{pd + `; client_max_window_bits="10`}, def, "", deflateParams{}},
		{"quoted space", []string{pd + `; client_max_window_bits="1 0"`}, def, "", deflateParams{}},
		{"quoted-pair of a quote", []string{pd + `; client_max_window_bits="\""`}, def, "", deflateParams{}},
		{"missing name", []string{"; " + pd}, def, "", deflateParams{}},
		{"missing param name", []string{pd + "; =10"}, def, "", deflateParams{}},
		{"empty param", []string{pd + ";; client_max_window_bits"}, def, "", deflateParams{}},
		{"trailing semicolon", []string{pd + ";"}, def, "", deflateParams{}},
		{"two tokens", []string{pd + " garbage"}, def, "", deflateParams{}},
		{"two values", []string{pd + "; server_max_window_bits=9 10"}, def, "", deflateParams{}},
		{"name with value", []string{pd + "=1"}, def, "", deflateParams{}},
		{"separator in name", []string{"permessage/deflate"}, def, "", deflateParams{}},
		{"garbage after a valid offer", []string{pd + ", @@"}, def, "", deflateParams{}},
		{"garbage on a later line", []string{pd, "x;"}, def, "", deflateParams{}},
		{"garbage on an earlier line", []string{"{}", pd}, def, "", deflateParams{}},
		{"non-ASCII", []string{pd + "; client_max_window_bits=\u00b9\u2070"}, def, "", deflateParams{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, resp, ok := negotiateDeflate(tt.lines, tt.cfg)
			if ok != (tt.want != "") || resp != tt.want || p != tt.p {
				t.Errorf("negotiateDeflate(%q, %+v) = %+v, %q, %v; want %+v, %q", tt.lines, tt.cfg, p, resp, ok, tt.p, tt.want)
			}
		})
	}
}

// TestDeflateOffer checks the client's offer for each kind of config.
func TestDeflateOffer(t *testing.T) {
	tests := []struct {
		cfg  deflateConfig
		want string
	}{
		{deflateConfig{}, pd + "; client_max_window_bits"},
		{deflateConfig{windowBits: 15}, pd + "; client_max_window_bits"},
		{deflateConfig{windowBits: 10}, pd + "; client_max_window_bits=10"},
		{deflateConfig{windowBits: 8}, pd + "; client_max_window_bits=8"},
		{deflateConfig{noContextTakeover: true}, pd + "; client_max_window_bits; server_no_context_takeover; client_no_context_takeover"},
		{deflateConfig{noContextTakeover: true, windowBits: 9}, pd + "; client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover"},
	}
	for _, tt := range tests {
		if got := deflateOffer(tt.cfg); got != tt.want {
			t.Errorf("deflateOffer(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

// TestAcceptDeflateResponse checks the client's reading of the server's
// answer: declined, accepted with its params, or an error that names the
// problem and wraps errExtensionResponse.
func TestAcceptDeflateResponse(t *testing.T) {
	def := deflateConfig{}
	w10 := deflateConfig{windowBits: 10}
	tests := []struct {
		name  string
		lines []string
		cfg   deflateConfig
		p     deflateParams
		ok    bool
		err   string // a part of the error message; "" means no error
	}{
		{"no header", nil, def, deflateParams{}, false, ""},
		{"empty header", []string{""}, def, deflateParams{}, false, ""},
		{"bare", []string{pd}, def, params15, true, ""},
		{"bare, offered window 10", []string{pd}, w10, deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10}, true, ""},
		{"server flag unasked", []string{pd + "; server_no_context_takeover"}, def,
			deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}, true, ""},
		{"client flag unasked", []string{pd + "; client_no_context_takeover"}, def,
			deflateParams{clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}, true, ""},
		{"server window unasked", []string{pd + "; server_max_window_bits=10"}, def,
			deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}, true, ""},
		{"client window", []string{pd + "; client_max_window_bits=9"}, def,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 9}, true, ""},
		{"client window larger than offered", []string{pd + "; client_max_window_bits=12"}, w10,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 12}, true, ""},
		{"all four, spaced and quoted", []string{" " + pd + "\t;client_no_context_takeover ; server_no_context_takeover;server_max_window_bits = \"12\"; client_max_window_bits=8 ,"}, def,
			deflateParams{true, true, 12, 8}, true, ""},

		{"grammar", []string{pd + "; server_max_window_bits=\"9"}, def, deflateParams{}, false, "grammar"},
		{"grammar on second line", []string{pd, ";"}, def, deflateParams{}, false, "grammar"},
		{"other extension", []string{"x-webkit-deflate-frame"}, def, deflateParams{}, false, `extension "x-webkit-deflate-frame" was not offered`},
		{"name case", []string{"Permessage-Deflate"}, def, deflateParams{}, false, "not offered"},
		{"two", []string{pd + ", " + pd}, def, deflateParams{}, false, "2 times"},
		{"two lines", []string{pd, pd + "; server_no_context_takeover"}, def, deflateParams{}, false, "2 times"},
		{"deflate then other", []string{pd + ", foo"}, def, deflateParams{}, false, `"foo" was not offered`},
		{"unknown", []string{pd + "; foo=1"}, def, deflateParams{}, false, `parameter "foo=1" is not a permessage-deflate parameter`},
		{"repeated", []string{pd + "; server_no_context_takeover; server_no_context_takeover"}, def, deflateParams{}, false, "is repeated"},
		{"repeated window", []string{pd + "; client_max_window_bits=9; client_max_window_bits=10"}, def, deflateParams{}, false, "is repeated"},
		{"flag value", []string{pd + "; client_no_context_takeover=yes"}, def, deflateParams{}, false, "must have no value"},
		{"client window no value", []string{pd + "; client_max_window_bits"}, def, deflateParams{}, false, `"client_max_window_bits" needs a value`},
		{"server window no value", []string{pd + "; server_max_window_bits"}, def, deflateParams{}, false, "needs a value"},
		{"window 16", []string{pd + "; server_max_window_bits=16"}, def, deflateParams{}, false, `"server_max_window_bits=16" needs a value from 8 to 15`},
		{"window 7", []string{pd + "; client_max_window_bits=7"}, def, deflateParams{}, false, "needs a value"},
		{"window 09", []string{pd + "; client_max_window_bits=09"}, def, deflateParams{}, false, "without a leading zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := acceptDeflateResponse(tt.lines, tt.cfg)
			if p != tt.p || ok != tt.ok {
				t.Errorf("acceptDeflateResponse(%q, %+v) = %+v, %v; want %+v, %v", tt.lines, tt.cfg, p, ok, tt.p, tt.ok)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one containing %q", err, tt.err)
			case err != nil && (!errors.Is(err, errExtensionResponse) || !strings.HasPrefix(err.Error(), "websocket: ")):
				t.Errorf("error %v does not wrap errExtensionResponse", err)
			}
		})
	}
}

// TestDeflateNegotiationRoundTrip checks that for every client config and server
// config, the server accepts the client's offer and both ends read the
// answer as the same params.
func TestDeflateNegotiationRoundTrip(t *testing.T) {
	for _, cw := range []int{0, 8, 9, 12, 15} {
		for _, sw := range []int{0, 8, 10, 15} {
			for _, cn := range []bool{false, true} {
				for _, sn := range []bool{false, true} {
					ccfg := deflateConfig{noContextTakeover: cn, windowBits: cw}
					scfg := deflateConfig{noContextTakeover: sn, windowBits: sw}
					checkDeflateRoundTrip(t, ccfg, scfg)
				}
			}
		}
	}
}

// checkDeflateRoundTrip negotiates between a client with ccfg and a server
// with scfg and checks that the two ends agree and that the result keeps to
// both configs.
func checkDeflateRoundTrip(t *testing.T, ccfg, scfg deflateConfig) {
	t.Helper()
	offer := deflateOffer(ccfg)
	sp, resp, ok := negotiateDeflate([]string{offer}, scfg)
	if !ok {
		t.Fatalf("server %+v declined %q", scfg, offer)
	}
	cp, ok, err := acceptDeflateResponse([]string{resp}, ccfg)
	if !ok || err != nil {
		t.Fatalf("client %+v refused %q to %q: %v", ccfg, resp, offer, err)
	}
	if cp != sp {
		t.Fatalf("offer %q, answer %q: client reads %+v, server %+v", offer, resp, cp, sp)
	}
	noCtx := ccfg.noContextTakeover || scfg.noContextTakeover
	if sp.serverNoContextTakeover != noCtx || sp.clientNoContextTakeover != noCtx {
		t.Fatalf("offer %q, answer %q: no-context flags %+v, want both %v", offer, resp, sp, noCtx)
	}
	if sp.serverMaxWindowBits != scfg.window() || sp.clientMaxWindowBits != min(ccfg.window(), scfg.window()) {
		t.Fatalf("offer %q, answer %q: windows %+v for client %+v, server %+v", offer, resp, sp, ccfg, scfg)
	}
}

// TestNegotiateDeflateAllocs checks that the server's negotiation of the
// offers browsers send does not allocate, and that naming a window costs
// one allocation.
func TestNegotiateDeflateAllocs(t *testing.T) {
	tests := []struct {
		lines []string
		cfg   deflateConfig
		want  float64
	}{
		{[]string{pd + "; client_max_window_bits"}, deflateConfig{}, 0},
		{[]string{pd}, deflateConfig{}, 0},
		{[]string{pd + "; client_max_window_bits"}, deflateConfig{noContextTakeover: true}, 0},
		{[]string{"x-webkit-deflate-frame", pd + "; client_max_window_bits; server_no_context_takeover"}, deflateConfig{}, 0},
		{[]string{pd + `; server_max_window_bits="1\0"; x, ` + pd}, deflateConfig{}, 0},
		{[]string{pd + "; client_max_window_bits"}, deflateConfig{windowBits: 10}, 1},
	}
	for _, tt := range tests {
		got := testing.AllocsPerRun(100, func() { negotiateDeflate(tt.lines, tt.cfg) })
		if got != tt.want {
			t.Errorf("negotiateDeflate(%q, %+v): %v allocations, want %v", tt.lines, tt.cfg, got, tt.want)
		}
	}
}

// BenchmarkNegotiateDeflate measures the server's negotiation of Chrome's
// offer, with the default config and with a window that must be named.
func BenchmarkNegotiateDeflate(b *testing.B) {
	lines := []string{pd + "; client_max_window_bits"}
	for _, bc := range []struct {
		name string
		cfg  deflateConfig
	}{{"default", deflateConfig{}}, {"window10", deflateConfig{windowBits: 10}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				negotiateDeflate(lines, bc.cfg)
			}
		})
	}
}

// TestIsTchar checks isTchar on every byte against the token characters of
// RFC 7230 section 3.2.6.
func TestIsTchar(t *testing.T) {
	re := regexp.MustCompile("^" + reTchar + "$")
	for c := range 256 {
		if got, want := isTchar(byte(c)), re.Match([]byte{byte(c)}); got != want {
			t.Errorf("isTchar(%q) = %v", byte(c), got)
		}
	}
}

// Regular expressions for the grammar of RFC 6455 section 9.1, as an
// oracle for the hand-written parser.
var (
	reToken = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+"
	reTchar = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]"
	reValue = "(?:" + reToken + `|"(?:` + reTchar + `|\\` + reTchar + `)+")`
	reParam = reToken + "(?:[ \t]*=[ \t]*" + reValue + ")?"
	reExt   = reToken + "(?:[ \t]*;[ \t]*" + reParam + ")*"
	reLine  = regexp.MustCompile("^[ \t,]*(?:" + reExt + "(?:[ \t]*,[ \t,]*" + reExt + ")*)?[ \t,]*$")
	tokenRE = regexp.MustCompile("^" + reToken + "$")
	valueRE = regexp.MustCompile("^" + reValue + "$")
)

// parseLine returns the elements of line and whether it keeps to the
// grammar, failing t if extensions yields anything after false.
func parseLine(t *testing.T, line string) (exts []extension, valid bool) {
	t.Helper()
	valid = true
	for e, ok := range extensions(line) {
		if !valid {
			t.Fatalf("extensions(%q) yielded %+v after false", line, e)
		}
		if valid = ok; ok {
			exts = append(exts, e)
		}
	}
	return exts, valid
}

// canonical writes exts back without optional white space or empty
// elements, failing t if a name or a parameter does not keep to the grammar.
func canonical(t *testing.T, exts []extension) string {
	t.Helper()
	var b strings.Builder
	for i, e := range exts {
		if i > 0 {
			b.WriteString(", ")
		}
		if !tokenRE.MatchString(e.name) {
			t.Fatalf("extension name %q is not a token", e.name)
		}
		b.WriteString(e.name)
		for s := e.params; s != ""; {
			p, rest, ok := cutParam(s)
			if !ok || !tokenRE.MatchString(p.name) || (p.value != "" && !valueRE.MatchString(p.value)) {
				t.Fatalf("parameters %q of %q: bad parameter %+v", e.params, e.name, p)
			}
			b.WriteString("; " + p.String())
			s = rest
		}
	}
	return b.String()
}

// TestExtensionsGrammar checks the parser on a few lines against the
// oracle and against the elements it should find.
func TestExtensionsGrammar(t *testing.T) {
	tests := []struct {
		line, want string
		valid      bool
	}{
		{"", "", true},
		{" , ,", "", true},
		{"a", "a", true},
		{"a;b", "a; b", true},
		{" a ; b = c , d;e=\"f\"\t", `a; b=c, d; e="f"`, true},
		{`a; b="\c\d"`, `a; b="\c\d"`, true},
		{"a,,b", "a, b", true},
		{"a b", "", false},
		{"a, b c", "a", false},
		{"a;", "", false},
		{"a; b=", "", false},
		{`a; b="`, "", false},
		{`a; b="\`, "", false},
		{`a; b="\ "`, "", false},
		{`a; b=""`, "", false},
		{`a; b="c" d`, "", false},
		{"=", "", false},
		{"a=b", "", false},
	}
	for _, tt := range tests {
		exts, valid := parseLine(t, tt.line)
		if got := canonical(t, exts); got != tt.want || valid != tt.valid {
			t.Errorf("extensions(%q) = %q, %v; want %q, %v", tt.line, got, valid, tt.want, tt.valid)
		}
		if reLine.MatchString(tt.line) != tt.valid {
			t.Errorf("oracle disagrees on %q", tt.line)
		}
	}
}

// FuzzParseExtensions checks that the parser of Sec-WebSocket-Extensions
// lines never panics, finds a line valid exactly when the regular
// expression of the grammar matches it, yields only well-formed names and
// parameters, and reads its own canonical output back the same.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{
		"", pd, pd + "; client_max_window_bits", " a ; b = c , d;e=\"f\"\t", `a; b="\c"`, "a, b c", `a; b="`, ",,a,,", "a;;b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		exts, valid := parseLine(t, line)
		if valid != reLine.MatchString(line) {
			t.Fatalf("extensions(%q) says valid = %v, the grammar says otherwise", line, valid)
		}
		c := canonical(t, exts)
		again, valid2 := parseLine(t, c)
		if !valid2 || canonical(t, again) != c {
			t.Fatalf("canonical form %q of %q reads back as %q, %v", c, line, canonical(t, again), valid2)
		}
	})
}

// FuzzNegotiateDeflate checks that negotiateDeflate never panics on any
// header and server config, that its params stay within 8..15 and keep to
// the server config, that the client reads its response as the same params,
// and that an offer made by deflateOffer is always accepted, with both ends
// agreeing.
func FuzzNegotiateDeflate(f *testing.F) {
	f.Add(pd+"; client_max_window_bits", false, uint8(0), false, uint8(0))
	f.Add(pd+"; server_max_window_bits=10; client_max_window_bits=12, "+pd, true, uint8(12), true, uint8(9))
	f.Add("foo, "+pd+`; server_no_context_takeover; client_max_window_bits="1\0"`, false, uint8(8), true, uint8(15))
	f.Add(pd+"; client_no_context_takeover", false, uint8(16), false, uint8(7))
	f.Fuzz(func(t *testing.T, header string, sNoCtx bool, sBits uint8, cNoCtx bool, cBits uint8) {
		scfg := deflateConfig{noContextTakeover: sNoCtx, windowBits: int(sBits)}
		ccfg := deflateConfig{noContextTakeover: cNoCtx, windowBits: int(cBits)}
		lines := strings.Split(header, "\n")
		p, resp, ok := negotiateDeflate(lines, scfg)
		if !ok {
			if p != (deflateParams{}) || resp != "" {
				t.Fatalf("declined %q with %+v, %q", lines, p, resp)
			}
		} else {
			checkServerParams(t, lines, scfg, p, resp)
		}
		checkDeflateRoundTrip(t, ccfg, scfg)
	})
}

// checkServerParams checks an accepted negotiation: windows within 8..15
// and within scfg, no-context flags as scfg asks, and a response that a
// client whose offer left its own window at p's reads as p.
func checkServerParams(t *testing.T, lines []string, scfg deflateConfig, p deflateParams, resp string) {
	t.Helper()
	for _, w := range []int{p.serverMaxWindowBits, p.clientMaxWindowBits} {
		if w < 8 || w > 15 {
			t.Fatalf("negotiateDeflate(%q) gives window bits %d", lines, w)
		}
	}
	if p.serverMaxWindowBits > scfg.window() {
		t.Fatalf("negotiateDeflate(%q, %+v) gives the server window %d", lines, scfg, p.serverMaxWindowBits)
	}
	if scfg.noContextTakeover && !(p.serverNoContextTakeover && p.clientNoContextTakeover) {
		t.Fatalf("negotiateDeflate(%q, %+v) keeps a context: %+v", lines, scfg, p)
	}
	cp, ok, err := acceptDeflateResponse([]string{resp}, deflateConfig{windowBits: p.clientMaxWindowBits})
	if !ok || err != nil || cp != p {
		t.Fatalf("response %q to %q reads as %+v, %v, %v; server has %+v", resp, lines, cp, ok, err, p)
	}
}
