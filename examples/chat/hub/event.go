//go:build !js

package hub

// This file holds the JSON events the hub sends to clients and the messages
// it reads from them, and the rules for names and rooms.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The types of Event.
const (
	// TypeMessage is a message a client sent to its room.
	TypeMessage = "message"
	// TypeJoin says that Name joined the room.
	TypeJoin = "join"
	// TypeLeave says that Name left the room (closed, was evicted, or its
	// node shut down).
	TypeLeave = "leave"
	// TypeNotice is a note from the hub to its own clients, such as the loss
	// of the backplane; it never goes through the backplane and has no ID.
	TypeNotice = "notice"
)

// Event is one JSON text message that clients receive, encoded once per
// room event and shared by every client (and every node) that receives it,
// with <, > and & as they are, unescaped: a page shows texts and names as
// text (textContent), never as HTML.
//
//	{"type":"message","id":"3f9a1c0e2b7d-42","room":"lobby","name":"ana","text":"hi","time":"2025-01-01T12:00:00.000Z"}
type Event struct {
	// Type is TypeMessage, TypeJoin, TypeLeave or TypeNotice.
	Type string `json:"type"`
	// ID is unique across the cluster: the publishing node's random ID and
	// a counter. A page that reconnects skips the events of the history
	// replay that it has shown already by their IDs.
	ID string `json:"id,omitempty"`
	// Room and Name say where and who; empty for notices.
	Room string `json:"room,omitempty"`
	Name string `json:"name,omitempty"`
	// Text is the message's or the notice's text.
	Text string `json:"text,omitempty"`
	// Time is when the publishing node made the event, in UTC, RFC 3339
	// with milliseconds.
	Time string `json:"time,omitempty"`
}

// incoming is what a client sends: {"type":"message","text":"..."}.
type incoming struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// MaxNameLen is the most characters (runes) a name or a room may have.
const MaxNameLen = 32

// MaxTextLen is the most characters (runes) a message's text may have: the
// page's limit (which counts UTF-16 code units, never fewer). A client that
// sends a longer one is closed with status 1008 (policy violation).
const MaxTextLen = 2000

// CheckName returns s, a client's name or room (what says which) from the
// query, with spaces trimmed at both ends, or an error saying what is wrong
// with it. It must be valid UTF-8 of 1 to MaxNameLen characters that shows
// something, each character a printable one or a plain space: no control
// or format characters, other spaces or line separators, nor characters
// that show as nothing (see blank), which could make a name look like
// another's, look empty, or break the page's layout. Emoji sequences are
// welcome: a zero-width joiner between two emoji (👩‍💻), and the variation
// selectors that ask for text or emoji style (U+FE0E, U+FE0F) after a
// character.
func CheckName(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return "", errors.New("hub: the " + what + " is not valid UTF-8")
	case n == 0:
		return "", errors.New("hub: the " + what + " is empty")
	case n > MaxNameLen:
		return "", errors.New("hub: the " + what + " is longer than " + strconv.Itoa(MaxNameLen) + " characters")
	}
	rs := []rune(s)
	visible := false
	for i, r := range rs {
		switch {
		case r == zeroWidthJoiner:
			if i == 0 || i == len(rs)-1 || !joinsAfter(rs[i-1]) || !isEmoji(rs[i+1]) {
				return "", errors.New("hub: the " + what + " has a zero-width joiner that is not between two emoji")
			}
		case r == textStyle || r == emojiStyle:
			if i == 0 || !styled(rs[i-1]) {
				return "", errors.New("hub: the " + what + " has a variation selector that follows no character")
			}
		case !unicode.IsPrint(r): // controls, format characters, spaces but ' '
			return "", errors.New("hub: the " + what + " has a character that is not printable: " + strconv.QuoteRune(r))
		case blank(r):
			return "", errors.New("hub: the " + what + " has a character that shows as nothing: " + fmt.Sprintf("%U", r))
		case r != ' ' && !unicode.IsMark(r):
			visible = true
		}
	}
	if !visible {
		return "", errors.New("hub: the " + what + " shows nothing")
	}
	return s, nil
}

// The format characters of emoji sequences that CheckName accepts.
const (
	zeroWidthJoiner = '\u200d'
	textStyle       = '\ufe0e' // variation selector 15
	emojiStyle      = '\ufe0f' // variation selector 16
)

// blank reports whether r shows as nothing, or as a space that is not
// U+0020: white space, space separators, default-ignorable characters (the
// format characters, the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0,
// the variation selectors, and others), and the blank Braille pattern
// U+2800. unicode.IsPrint refuses some of them already (spaces, format
// characters), not the others, which are letters, marks or symbols.
func blank(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r == '\u2800', unicode.IsSpace(r):
		return true
	}
	return unicode.In(r, unicode.Zs, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// isEmoji reports whether r may start the part of an emoji sequence after a
// zero-width joiner: a symbol, such as U+1F4BB PERSONAL COMPUTER.
func isEmoji(r rune) bool {
	return unicode.Is(unicode.So, r)
}

// joinsAfter reports whether a zero-width joiner may follow r: an emoji, a
// skin tone modifier (U+1F3FB to U+1F3FF), or a variation selector.
func joinsAfter(r rune) bool {
	return isEmoji(r) || r >= 0x1f3fb && r <= 0x1f3ff || r == textStyle || r == emojiStyle
}

// styled reports whether a variation selector may follow r: a character
// that shows, such as an emoji or the digit of a keycap.
func styled(r rune) bool {
	return r != ' ' && unicode.IsPrint(r) && !blank(r) && !unicode.IsMark(r)
}

// idSource makes the IDs of one node's events.
type idSource struct {
	node string // 12 random hex digits
	seq  atomic.Uint64
}

// newIDSource returns an idSource with a random node ID.
func newIDSource() *idSource {
	var b [6]byte
	rand.Read(b[:])
	return &idSource{node: hex.EncodeToString(b[:])}
}

// event returns a new room event of type typ, stamped with the next ID and
// the time now, encoded as clients receive it.
func (s *idSource) event(typ, room, name, text string) []byte {
	id := s.node + "-" + strconv.FormatUint(s.seq.Add(1), 10)
	return encode(Event{Type: typ, ID: id, Room: room, Name: name, Text: text,
		Time: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")})
}

// notice returns a notice event with text, encoded.
func notice(text string) []byte {
	return encode(Event{Type: TypeNotice, Text: text})
}

// encode marshals e, which cannot fail for an Event. It leaves <, > and &
// as they are: json.Marshal would make each six bytes (\u003c), for HTML
// that the page never parses (it shows texts with textContent), and a
// message of such characters five times as large in every client's queue
// and every room's history.
func encode(e Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic("hub: encoding an event: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
