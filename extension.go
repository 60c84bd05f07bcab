package websocket

// This file negotiates permessage-deflate (RFC 7692 sections 5 and 7) over
// the Sec-WebSocket-Extensions grammar of RFC 6455 section 9.1: pure
// functions from header values to parameters, with no I/O.

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// deflateName is the extension token of RFC 7692 section 7. Extension and
// parameter names are compared exactly, case included: RFC 6455 does not
// make them case-insensitive, and HTTP tokens are case-sensitive unless a
// specification says otherwise.
const deflateName = "permessage-deflate"

// The parameters of RFC 7692 section 7.1.
const (
	paramServerNoContext = "server_no_context_takeover"
	paramClientNoContext = "client_no_context_takeover"
	paramServerMaxWindow = "server_max_window_bits"
	paramClientMaxWindow = "client_max_window_bits"
)

// maxWindowBits is the largest LZ77 window of DEFLATE, 2^15 bytes, which is
// also the window a side may use when nothing limits it.
const maxWindowBits = 15

// errExtensionResponse is wrapped by every error of acceptDeflateResponse,
// whose message goes on to say what is wrong.
var errExtensionResponse = errors.New("websocket: the server's Sec-WebSocket-Extensions response does not fit the permessage-deflate offer")

// deflateConfig is what our side wants, derived from the user's options.
type deflateConfig struct {
	// noContextTakeover compresses each message on its own in both
	// directions: a server answers server_no_context_takeover and
	// client_no_context_takeover, a client offers both.
	noContextTakeover bool
	// windowBits, 8 to 15, is the window of our compressor, and the most we
	// want to keep of the peer's window when the peer lets us limit it. 0
	// means 15, and so does any other value outside 8..15, which the
	// caller is to reject before it gets here.
	windowBits int
}

// window returns c.windowBits, or 15 when it is 0 or out of range.
func (c deflateConfig) window() int {
	if c.windowBits < 8 || c.windowBits > maxWindowBits {
		return maxWindowBits
	}
	return c.windowBits
}

// deflateParams is a negotiated result, the same seen from both ends: which
// sides reset their compression context after each message, and the largest
// window each side's compressor may use (8 to 15; 15 when unlimited).
// compress/flate's writer always uses a 32 KiB window, so a side limited to
// fewer than 15 bits must write with flate.HuffmanOnly, which makes no
// back-references, or leave its messages uncompressed.
type deflateParams struct {
	serverNoContextTakeover, clientNoContextTakeover bool
	serverMaxWindowBits, clientMaxWindowBits         int
}

// deflateArgs is what the parameters of one permessage-deflate offer or
// response say: which flags appeared, and the window values, 0 when absent
// (clientWindow is also 0 when client_max_window_bits has no value).
type deflateArgs struct {
	serverNoContext, clientNoContext bool
	hasClientWindow                  bool
	serverWindow, clientWindow       int
}

// negotiateDeflate is the server's side: it reads every
// Sec-WebSocket-Extensions line of the request, considers the
// permessage-deflate offers in order, and accepts the first valid one (all
// valid offers are acceptable, see acceptDeflateOffer). It returns the
// params to use and the exact response header value; ok is false when there
// is no valid offer, and the response then carries no such header.
//
// A header that breaks the grammar anywhere, in any line, is declined as a
// whole, since its lines form one list; an offer with an unknown, repeated
// or ill-valued parameter is declined alone, as RFC 7692 section 5 requires;
// other extensions are skipped. Nothing here is an error for the handshake.
// Parsing does not allocate, and neither does the response unless it names
// a window size.
func negotiateDeflate(lines []string, cfg deflateConfig) (p deflateParams, response string, ok bool) {
	for _, line := range lines {
		for e, valid := range extensions(line) {
			if !valid {
				return deflateParams{}, "", false
			}
			if ok || e.name != deflateName {
				continue
			}
			if a, _, problem := parseDeflateArgs(e.params, false); problem == "" {
				p, response = acceptDeflateOffer(a, cfg)
				ok = true
			}
		}
	}
	return p, response, ok
}

// acceptDeflateOffer applies the server's policy to a valid offer and
// returns the params and the response header value. It honours all four
// parameters of RFC 7692 section 7.1:
//
//   - The server resets its context if cfg or the offer asks
//     (server_no_context_takeover in an offer must be answered with it), and
//     so does the client if cfg or the offer says so; each flag that holds
//     is named. Echoing an offered client_no_context_takeover is allowed, and
//     lets both ends agree on the params and the server drop its inflater's
//     context between messages.
//   - The server's window is the smaller of cfg's and the offer's
//     server_max_window_bits. It is named when the offer had the parameter
//     (accepting it means answering it, with the same or a smaller value),
//     or when it is below 15. Unasked, that is allowed but Firefox was
//     reported to close such connections, so with the default window of 15
//     it is never named unasked.
//   - The client's window is limited to cfg's, and named, only if the offer
//     had client_max_window_bits (a response must not name it otherwise)
//     with no value or a larger one. A smaller offered value is the client's
//     own promise and is used without echoing it.
func acceptDeflateOffer(a deflateArgs, cfg deflateConfig) (p deflateParams, response string) {
	own := cfg.window()
	p.serverNoContextTakeover = cfg.noContextTakeover || a.serverNoContext
	p.clientNoContextTakeover = cfg.noContextTakeover || a.clientNoContext
	p.serverMaxWindowBits = own
	if a.serverWindow != 0 {
		p.serverMaxWindowBits = min(own, a.serverWindow)
	}
	p.clientMaxWindowBits = maxWindowBits
	nameClient := false
	if a.hasClientWindow {
		if a.clientWindow != 0 {
			p.clientMaxWindowBits = a.clientWindow
		}
		if own < p.clientMaxWindowBits {
			p.clientMaxWindowBits, nameClient = own, true
		}
	}
	nameServer := a.serverWindow != 0 || p.serverMaxWindowBits < maxWindowBits
	return p, deflateResponse(p, nameServer, nameClient)
}

// deflateResponses are the responses that name no window, indexed by
// server_no_context_takeover | client_no_context_takeover<<1, so that the
// common answers cost no allocation.
var deflateResponses = [4]string{
	deflateName,
	deflateName + "; " + paramServerNoContext,
	deflateName + "; " + paramClientNoContext,
	deflateName + "; " + paramServerNoContext + "; " + paramClientNoContext,
}

// deflateResponse returns the response header value for p: its flags, then
// the server's and the client's window when told to name them.
func deflateResponse(p deflateParams, nameServer, nameClient bool) string {
	i := 0
	if p.serverNoContextTakeover {
		i |= 1
	}
	if p.clientNoContextTakeover {
		i |= 2
	}
	if !nameServer && !nameClient {
		return deflateResponses[i]
	}
	b := make([]byte, 0, 128)
	b = append(b, deflateResponses[i]...)
	if nameServer {
		b = append(b, "; "+paramServerMaxWindow+"="...)
		b = strconv.AppendInt(b, int64(p.serverMaxWindowBits), 10)
	}
	if nameClient {
		b = append(b, "; "+paramClientMaxWindow+"="...)
		b = strconv.AppendInt(b, int64(p.clientMaxWindowBits), 10)
	}
	return string(b)
}

// deflateOffer is the client's side: the Sec-WebSocket-Extensions value to
// send, one offer.
//
// It always has client_max_window_bits, with cfg's window as its value when
// below 15, which tells the server that the client can limit its window and
// will not use more than that value. With noContextTakeover it asks for
// server_no_context_takeover and client_no_context_takeover.
//
// It never asks the server to limit its window (server_max_window_bits):
// Go's flate reader keeps a 32 KiB window whatever the peer uses, so a
// smaller server window would save the client nothing, and a server that
// cannot limit its window must decline such an offer, which would then need
// a fallback offer. A server that does not support no context takeover
// must decline too; there is no fallback for that either, since the user
// asked for it.
func deflateOffer(cfg deflateConfig) string {
	s := deflateName + "; " + paramClientMaxWindow
	if w := cfg.window(); w < maxWindowBits {
		s += "=" + strconv.Itoa(w)
	}
	if cfg.noContextTakeover {
		s += "; " + paramServerNoContext + "; " + paramClientNoContext
	}
	return s
}

// acceptDeflateResponse is the client's side: it checks the server's
// Sec-WebSocket-Extensions lines against what deflateOffer(cfg) offered. No
// extension in them gives (zero, false, nil): the server declined. A valid
// permessage-deflate answer gives its params, with ok true. Anything else
// is an error wrapping errExtensionResponse, which the client must fail the
// connection with: a broken grammar, another extension, more than one,
// or a parameter that is unknown, repeated or ill-valued.
//
// Both no-context flags are allowed unasked (RFC 7692 section 7.1.1), and
// so is server_max_window_bits (7.1.2.1), which the offer never names. A
// client_max_window_bits larger than the offered value is accepted too: it
// is a looser limit than the one the client has promised to keep, so the
// client's compressor must keep to min(cfg's window, the params'). Without
// client_max_window_bits in the answer, the client's window is the one it
// offered.
func acceptDeflateResponse(lines []string, cfg deflateConfig) (p deflateParams, ok bool, err error) {
	var ext extension
	n := 0
	for _, line := range lines {
		for e, valid := range extensions(line) {
			switch {
			case !valid:
				return p, false, fmt.Errorf("%w: %q breaks the grammar of RFC 6455 section 9.1", errExtensionResponse, line)
			case e.name != deflateName:
				return p, false, fmt.Errorf("%w: extension %q was not offered", errExtensionResponse, e.name)
			}
			ext = e
			n++
		}
	}
	switch {
	case n == 0:
		return p, false, nil
	case n > 1:
		return p, false, fmt.Errorf("%w: it names permessage-deflate %d times", errExtensionResponse, n)
	}
	a, bad, problem := parseDeflateArgs(ext.params, true)
	if problem != "" {
		return p, false, fmt.Errorf("%w: parameter %q %s", errExtensionResponse, bad.String(), problem)
	}
	p = deflateParams{
		serverNoContextTakeover: a.serverNoContext,
		clientNoContextTakeover: a.clientNoContext,
		serverMaxWindowBits:     maxWindowBits,
		clientMaxWindowBits:     cfg.window(),
	}
	if a.serverWindow != 0 {
		p.serverMaxWindowBits = a.serverWindow
	}
	if a.clientWindow != 0 {
		p.clientMaxWindowBits = a.clientWindow
	}
	return p, true, nil
}

// parseDeflateArgs reads the parameters of a permessage-deflate offer, or a
// response if response is set, already checked against the grammar. If one
// breaks RFC 7692 section 7.1, it returns that parameter and a problem
// phrase for an error message ("" when all is well): unknown, repeated, a
// value on a flag, a window value that is missing (allowed only for
// client_max_window_bits in an offer) or not 8 to 15.
func parseDeflateArgs(params string, response bool) (a deflateArgs, bad extParam, problem string) {
	const (
		valueOnFlag = "must have no value"
		badWindow   = "needs a value from 8 to 15 without a leading zero"
	)
	for params != "" {
		var p extParam
		p, params, _ = cutParam(params)
		repeated, valueProblem := false, ""
		switch p.name {
		case paramServerNoContext:
			repeated, a.serverNoContext = a.serverNoContext, true
			if p.value != "" {
				valueProblem = valueOnFlag
			}
		case paramClientNoContext:
			repeated, a.clientNoContext = a.clientNoContext, true
			if p.value != "" {
				valueProblem = valueOnFlag
			}
		case paramServerMaxWindow:
			repeated, a.serverWindow = a.serverWindow != 0, windowBits(p.value)
			if a.serverWindow == 0 {
				valueProblem = badWindow
			}
		case paramClientMaxWindow:
			repeated, a.hasClientWindow = a.hasClientWindow, true
			a.clientWindow = windowBits(p.value)
			if a.clientWindow == 0 && (p.value != "" || response) {
				valueProblem = badWindow
			}
		default:
			return a, p, "is not a permessage-deflate parameter"
		}
		if repeated {
			return a, p, "is repeated"
		}
		if valueProblem != "" {
			return a, p, valueProblem
		}
	}
	return a, extParam{}, ""
}

// windowBits returns the window size of a *_max_window_bits value as
// written, a token or a quoted-string: 8 to 15 in decimal without a leading
// zero (RFC 7692 section 7.1.2), or 0 for anything else, "" included.
func windowBits(v string) int {
	if len(v) >= 2 && v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
		}
		if c < '0' || c > '9' || (n == 0 && c == '0') {
			return 0
		}
		if n = n*10 + int(c-'0'); n > maxWindowBits {
			return 0 // and no overflow
		}
	}
	if n < 8 {
		return 0
	}
	return n
}

// extension is one element of a Sec-WebSocket-Extensions list: its name and
// the text of its parameters, each "; name[=value]", already checked
// against the grammar.
type extension struct {
	name, params string
}

// extParam is one parameter of an extension: its name and its value as
// written, a token or a quoted-string with its quotes, or "" when it has
// none (a value is never empty).
type extParam struct {
	name, value string
}

// String returns p as written without white space: name or name=value.
func (p extParam) String() string {
	if p.value == "" {
		return p.name
	}
	return p.name + "=" + p.value
}

// extensions yields the elements of one Sec-WebSocket-Extensions header
// line in order, each with true, as RFC 6455 section 9.1 has them:
//
//	extension-list = 1#extension
//	extension      = token *( ";" param )
//	param          = token [ "=" ( token / quoted-string ) ]
//
// where a quoted value must be a token once unescaped. White space (spaces
// and tabs) may surround each ",", ";" and "=", as the implied *LWS of
// RFC 2616 allows, and empty list elements are skipped. If the rest of the
// line breaks the grammar, it yields false once, last.
func extensions(line string) iter.Seq2[extension, bool] {
	return func(yield func(extension, bool) bool) {
		for s := line; ; {
			e, rest, ok := cutExtension(s)
			if !ok {
				yield(extension{}, false)
				return
			}
			if e.name == "" || !yield(e, true) {
				return
			}
			s = rest
		}
	}
}

// cutExtension parses the first element of the list s, after any empty
// ones, and returns it and the rest of s; e.name is "" at the end of the
// list, and ok false if s breaks the grammar.
func cutExtension(s string) (e extension, rest string, ok bool) {
	s = trimOWS(s)
	for s != "" && s[0] == ',' {
		s = trimOWS(s[1:])
	}
	if s == "" {
		return e, "", true
	}
	if e.name, s = cutToken(s); e.name == "" {
		return e, s, false
	}
	params := s
	for {
		t := trimOWS(s)
		if t == "" || t[0] == ',' {
			e.params = params[:len(params)-len(s)]
			return e, t, true
		}
		if t[0] != ';' {
			return e, s, false
		}
		if _, s, ok = cutParam(t); !ok {
			return e, s, false
		}
	}
}

// cutParam parses `OWS ";" OWS param` at the start of s and returns the
// parameter and the rest of s; ok is false if s does not start so. The
// caller ensures that s, after white space, starts with ";".
func cutParam(s string) (p extParam, rest string, ok bool) {
	s = trimOWS(trimOWS(s)[1:])
	if p.name, s = cutToken(s); p.name == "" {
		return p, s, false
	}
	t := trimOWS(s)
	if t == "" || t[0] != '=' {
		return p, s, true
	}
	t = trimOWS(t[1:])
	if t != "" && t[0] == '"' {
		return cutQuotedToken(p, t)
	}
	p.value, t = cutToken(t)
	return p, t, p.value != ""
}

// cutQuotedToken sets p's value to the quoted-string at the start of s and
// returns p and the rest of s. ok is false unless the string is closed and
// its content, once each quoted-pair ("\" char) is replaced by its char,
// is a token.
func cutQuotedToken(p extParam, s string) (_ extParam, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			p.value = s[:i+1]
			return p, s[i+1:], i > 1
		case c == '\\' && i+1 < len(s) && isTchar(s[i+1]):
			i++
		case !isTchar(c):
			return p, s, false
		}
	}
	return p, s, false
}

// cutToken splits the token (RFC 7230 section 3.2.6) at the start of s from
// the rest; tok is "" if s does not start with one.
func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// trimOWS returns s without leading spaces and tabs.
func trimOWS(s string) string {
	return strings.TrimLeft(s, " \t")
}

// isTchar reports whether c may appear in a token: a letter, a digit or one
// of !#$%&'*+-.^_`|~.
func isTchar(c byte) bool {
	return c < 128 && tcharMask[c/64]&(1<<(c%64)) != 0
}

// tcharMask has bit c set for each byte c that isTchar accepts.
var tcharMask = func() (m [2]uint64) {
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		m[c/64] |= 1 << (c % 64)
	}
	return m
}()
