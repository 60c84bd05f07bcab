package main

// This file holds what the client and the server side of one connection
// share (both run in this process), and the accounting done once both
// sides are finished: which messages must have come back, and which were
// legitimately cut short.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/wsproject/websocket"
)

// connState is one connection's shared record. The client registers it under
// id before dialling; the server finds it through the hello message.
//
// Counters: sent (client writes that returned nil), echoed (echoes the
// client's reader received and checked), srvRead (messages the handler
// read whole) and srvEchoed (echo writes that returned nil).
type connState struct {
	id  uint64
	tap *tapConn // set by the dial of a tapped connection

	attach  atomic.Int32 // attachNew, then attachServer or attachAbandoned
	srvDone chan struct{}

	sent, echoed, srvRead, srvEchoed atomic.Int64

	// Set by the side before it acts, so the other side's view is final
	// once both are done.
	cliClose, cliAbort, srvClose, srvAbort atomic.Bool

	// Written by one goroutine before the sync points (the joins of the
	// client's goroutines, close(srvDone)) and read after them.
	cliCode               websocket.StatusCode
	srvCode               websocket.StatusCode
	srvReason             string
	srvShutdown           bool // a Shutdown of the connection's server began before its handler ended
	srvMode               string
	cliReadErr, cliClosed error // the reader's last error; the client's Close result
	srvReadErr            error
}

const (
	attachNew       = iota
	attachServer    // the server's handler has the connection
	attachAbandoned // the client finished before the server read the hello
)

// registry maps connection ids to their state.
var registry sync.Map // uint64 -> *connState

// shutdownReason is the reason of the close frames Server.Shutdown sends.
const shutdownReason = "server shutting down"

// clientReason is the reason of a close the client starts with code.
func clientReason(code websocket.StatusCode) string { return fmt.Sprintf("c%d", int(code)) }

// settle does the accounting of a connection whose sides are both done.
func (st *connState) settle(s *stats) {
	S, E := st.sent.Load(), st.echoed.Load()
	R, Es := st.srvRead.Load(), st.srvEchoed.Load()
	if st.tap != nil && st.tap.bad.Load() {
		s.incident(&s.corrupt, "conn %d: the server sent a masked frame, or one with reserved bits set", st.id)
	}
	if st.attach.Load() != attachServer {
		s.closeOutcomes[endNoSession].Add(1)
		s.aborted.Add(S - E)
		return
	}
	if !(E <= Es && Es <= R && R <= S) {
		s.incident(&s.corrupt, "conn %d: counts out of order: sent %d, server read %d, server echoed %d, echoed %d", st.id, S, R, Es, E)
	}
	var cce, sce *websocket.CloseError
	cliGot := errors.As(st.cliReadErr, &cce)
	srvGot := errors.As(st.srvReadErr, &sce)
	cliActed := st.cliClose.Load() || st.cliAbort.Load()
	srvActed := st.srvClose.Load() || st.srvAbort.Load() || st.srvShutdown
	switch {
	case cliGot && !cliActed && (srvActed || isShutdownClose(cce)):
		st.settleServerClose(s, cce, S, E, Es)
	case srvGot && sce.Reason != "" && st.cliClose.Load() && !st.cliAbort.Load() && !srvActed:
		st.settleClientClose(s, sce, cce, S, E, R, Es)
	case cliGot && srvGot && st.cliClose.Load() && srvActed:
		s.closeOutcomes[endBothClose].Add(1)
		s.crossed.Add(S - E)
	default:
		s.closeOutcomes[endAborted].Add(1)
		s.aborted.Add(S - E)
		if !cliActed && !srvActed {
			s.incident(&s.unexpected, "conn %d (%s): ended with nobody closing it: client read %v, server read %v", st.id, st.srvMode, st.cliReadErr, st.srvReadErr)
		}
	}
}

// isShutdownClose reports whether ce is the close frame of Server.Shutdown.
func isShutdownClose(ce *websocket.CloseError) bool {
	return ce.Code == websocket.StatusGoingAway && ce.Reason == shutdownReason
}

// settleServerClose accounts a connection whose client read the server's
// close frame without having closed itself. Every echo the server wrote
// went out before that frame, and the client kept reading until it, so
// every one must have reached the client's reader. Messages the client
// sent that the server did not echo crossed its close frame: the server's
// Close discards them (documented), and Shutdown's cut them short.
func (st *connState) settleServerClose(s *stats, cce *websocket.CloseError, S, E, Es int64) {
	s.closeOutcomes[endServerClose].Add(1)
	if want, wantReason := st.srvCode, st.srvReason; isShutdownClose(cce) {
		s.aborted.Add(S - E)
	} else {
		s.crossed.Add(S - E)
		if cce.Code != want || cce.Reason != wantReason {
			s.incident(&s.unexpected, "conn %d (%s): client got close %d %q, server closed with %d %q", st.id, st.srvMode, cce.Code, cce.Reason, want, wantReason)
		}
	}
	if E != Es {
		s.lost.Add(max(Es-E, 0))
		s.incident(&s.unexpected, "conn %d (%s): LOST: server echoed %d before its close frame (%d %q), client read %d; wire %s", st.id, st.srvMode, Es, cce.Code, cce.Reason, E, st.wire())
	}
	if st.tap != nil && st.tap.messages() != Es {
		s.incident(&s.unexpected, "conn %d (%s): the wire carried %d echoes before the server's close frame, the server wrote %d", st.id, st.srvMode, st.tap.messages(), Es)
	}
}

// settleClientClose accounts a connection whose server read the client's
// close frame, the first one sent. Every message the client wrote went out
// before it, so the server must have read and echoed them all, and its
// echoes went out before its answer. The client's reader must have had
// them all unless Close, finding no read under way, read them itself and
// discarded them (documented): on a tapped connection those are told apart
// by the count on the wire; otherwise they are counted as swallowed.
func (st *connState) settleClientClose(s *stats, sce, cce *websocket.CloseError, S, E, R, Es int64) {
	s.closeOutcomes[endClientClose].Add(1)
	if sce.Code != st.cliCode || sce.Reason != clientReason(st.cliCode) {
		s.incident(&s.unexpected, "conn %d (%s): server got close %d %q, client closed with %d", st.id, st.srvMode, sce.Code, sce.Reason, st.cliCode)
	}
	if cce == nil || cce.Code != st.cliCode {
		s.incident(&s.unexpected, "conn %d (%s): client closed with %d, its reader ended with %v", st.id, st.srvMode, st.cliCode, st.cliReadErr)
	}
	if st.cliClosed != nil {
		s.incident(&s.unexpected, "conn %d (%s): server read the close frame, but the client's Close returned %v", st.id, st.srvMode, st.cliClosed)
	}
	wire := Es
	if st.tap != nil {
		wire = st.tap.messages()
	}
	if lost := (S - R) + (R - Es) + (Es - wire); lost != 0 {
		s.lost.Add(max(lost, 0))
		s.incident(&s.unexpected, "conn %d (%s): LOST at client close %d: sent %d, server read %d, server echoed %d, wire %s, client read %d", st.id, st.srvMode, st.cliCode, S, R, Es, st.wire(), E)
	}
	s.swallowed.Add(max(wire-E, 0))
}

// wire describes what the tap saw, for incidents.
func (st *connState) wire() string {
	if st.tap == nil {
		return "not tapped"
	}
	return fmt.Sprintf("%d echoes, close frame seen %v", st.tap.messages(), st.tap.closeSeen())
}
