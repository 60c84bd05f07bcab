//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket/internal/browsertest"
)

// This file drives the chat page in headless Chromium, several tabs at
// once, with the Chrome DevTools Protocol: the browsers' own WebSockets talk
// to the built program, through the page's own form, list and code.

// browserTestTimeout bounds the whole browser test, building included.
const browserTestTimeout = 90 * time.Second

// pageHelpers defines, in a page, the functions the test's scripts use:
// waitFor(pred, what) resolves pred's value once it is truthy, checking at
// each change of the message list and failing after 10 s; join(name, room)
// fills in and submits the join form, and waits for the own join; say(text)
// sends a message with the form; items(cls) lists the texts of the list's
// items of class cls.
const pageHelpers = `
window.waitFor = (pred, what) => new Promise((resolve, reject) => {
	const list = document.getElementById("messages");
	let obs, timer;
	const check = () => {
		const v = pred();
		if (v) { obs.disconnect(); clearTimeout(timer); resolve(v); }
	};
	obs = new MutationObserver(check);
	obs.observe(list, {childList: true, subtree: true, characterData: true});
	timer = setTimeout(() => {
		obs.disconnect();
		reject(new Error("timed out waiting for " + what + "; the list shows: " + list.innerText.slice(-1500)));
	}, 10000);
	check();
});
window.items = cls => Array.from(document.querySelectorAll("#messages li." + cls), li => li.textContent);
window.join = (name, room) => {
	document.getElementById("name").value = name;
	document.getElementById("room").value = room;
	document.getElementById("join").requestSubmit();
	return waitFor(() => items("join").some(s => s.startsWith(name + " joined " + room)), name + "'s join");
};
window.say = text => {
	document.getElementById("text").value = text;
	document.getElementById("send").requestSubmit();
	return true;
};
true`

// chatTab is one tab of the browser with the chat page.
type chatTab struct {
	t    *testing.T
	page *browsertest.Page
	name string
}

// eval runs script in the tab, awaiting the promise it may yield, and
// decodes its value into v (unless nil); it fails the test on an error.
func (c *chatTab) eval(ctx context.Context, script string, v any) {
	c.t.Helper()
	if v == nil {
		v = new(any)
	}
	if err := c.page.Evaluate(ctx, script, v); err != nil {
		c.t.Fatalf("%s's tab: %v", c.name, err)
	}
}

// js quotes s for a script.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openTab prepares page for the test's scripts and joins name to room.
func openTab(ctx context.Context, t *testing.T, page *browsertest.Page, name, room string) *chatTab {
	t.Helper()
	c := &chatTab{t: t, page: page, name: name}
	c.eval(ctx, pageHelpers, nil)
	c.eval(ctx, "join("+js(name)+", "+js(room)+")", nil)
	return c
}

// TestBrowserChat runs the chat program and three Chromium tabs on its
// page: a message from one appears in all, at the width of a phone a long
// message wraps without widening the page, a tab that closes makes the
// others show its leave, and a tab that joins later gets the history.
func TestBrowserChat(t *testing.T) {
	browsertest.SkipWithoutChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	// Cancelling kills the processes: only after the cleanups that close
	// the tabs' DevTools connections.
	t.Cleanup(cancel)
	start := time.Now()
	phase := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }

	bin := browsertest.BuildProgram(ctx, t, ".", "chat")
	addr := browsertest.FreeAddr(t)
	pageURL := "http://" + addr + "/"
	browsertest.StartServer(ctx, t, exec.CommandContext(ctx, bin, "-addr", addr), "the chat program", pageURL, &http.Client{Timeout: time.Second})
	phase("the chat program serves " + pageURL)
	browser := browsertest.StartChromium(ctx, t, pageURL)
	ana := openTab(ctx, t, browser.Page(ctx, t, pageURL), "ana", "lobby")
	bo := openTab(ctx, t, browser.NewPage(ctx, t, pageURL), "bo", "lobby")
	cy := openTab(ctx, t, browser.NewPage(ctx, t, pageURL), "cy", "lobby")
	phase("three tabs joined")

	bo.eval(ctx, `say("hello from bo ✓")`, nil)
	for _, c := range []*chatTab{ana, bo, cy} {
		c.eval(ctx, `waitFor(() => items("message").some(s => s.startsWith("bohello from bo ✓")), "bo's message")`, nil)
	}
	var mine []string
	bo.eval(ctx, `items("mine")`, &mine)
	if len(mine) != 1 {
		t.Errorf("bo's tab marks %d messages as its own, want 1: %q", len(mine), mine)
	}
	phase("a message from one tab reached all three")

	checkNarrow(ctx, t, ana, cy)
	phase("a long message wraps at 360 px")

	if err := cy.page.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*chatTab{ana, bo} {
		c.eval(ctx, `waitFor(() => items("leave").some(s => s.startsWith("cy left lobby")), "cy's leave")`, nil)
	}
	phase("closing a tab showed its leave in the others")

	dee := openTab(ctx, t, browser.NewPage(ctx, t, pageURL), "dee", "lobby")
	dee.eval(ctx, `waitFor(() => items("message").some(s => s.startsWith("bohello from bo ✓")), "bo's message in the history")`, nil)
	phase("a newcomer got the history")

	checkRefused(ctx, t, &chatTab{t: t, page: browser.NewPage(ctx, t, pageURL), name: "a blank name"})
	phase("a tab whose name the server refuses gave up after 3 tries")
}

// checkRefused joins c's tab with a name that shows as nothing, which the
// server refuses with 400, a status the page cannot see, and checks that the
// page gives up after three tries, says why, and shows the join form again.
func checkRefused(ctx context.Context, t *testing.T, c *chatTab) {
	t.Helper()
	c.eval(ctx, pageHelpers, nil)
	var res struct {
		Notices   []string `json:"notices"`
		JoinShown bool     `json:"joinShown"`
	}
	c.eval(ctx, `document.getElementById("name").value = `+js("\u3164")+`;
	document.getElementById("join").requestSubmit();
	waitFor(() => items("notice").some(s => s.includes("refused")), "the notice of the refusal").then(() => ({
		notices: items("notice"),
		joinShown: !document.getElementById("join").hidden,
	}))`, &res)
	n := len(res.Notices)
	if n != 3 || !strings.Contains(res.Notices[0], "reconnecting") || !strings.Contains(res.Notices[1], "reconnecting") || !res.JoinShown {
		t.Errorf("a refused name: notices %q, join form shown %v; want two reconnections, the refusal, and the form", res.Notices, res.JoinShown)
	}
}

// checkNarrow makes from's tab as narrow as a phone, has it send a long
// message without spaces and a long one with, and checks that to's tab, as
// narrow, shows both without anything wider than the window.
func checkNarrow(ctx context.Context, t *testing.T, from, to *chatTab) {
	t.Helper()
	metrics := map[string]any{"width": 360, "height": 640, "deviceScaleFactor": 1, "mobile": true}
	for _, c := range []*chatTab{from, to} {
		if err := c.page.Call(ctx, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
			t.Fatalf("%s's tab: %v", c.name, err)
		}
	}
	long := strings.Repeat("x", 1500)
	words := strings.Repeat("lorem ipsum dolor ", 80)
	from.eval(ctx, "say("+js(long)+"); say("+js(words)+")", nil)
	var res struct {
		InnerWidth  int  `json:"innerWidth"`
		PageWidth   int  `json:"pageWidth"`
		Overflowing int  `json:"overflowing"`
		Tall        bool `json:"tall"`
	}
	to.eval(ctx, `waitFor(() => items("message").some(s => s.includes("lorem ipsum dolor lorem")), "the long messages").then(() => {
		const lis = Array.from(document.querySelectorAll("#messages li"));
		const long = lis.find(li => li.textContent.includes("xxxxxxxxxx"));
		return {
			innerWidth: window.innerWidth,
			pageWidth: document.documentElement.scrollWidth,
			overflowing: lis.filter(li => li.scrollWidth > li.clientWidth + 1 || li.getBoundingClientRect().right > window.innerWidth + 1).length,
			tall: !!long && long.getBoundingClientRect().height > 100,
		};
	})`, &res)
	if res.InnerWidth != 360 || res.PageWidth > res.InnerWidth || res.Overflowing != 0 || !res.Tall {
		t.Errorf("at 360 px: window %d px, page %d px wide, %d items wider than their box or the window, long message wrapped: %v",
			res.InnerWidth, res.PageWidth, res.Overflowing, res.Tall)
	}
}
