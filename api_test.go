//go:build !js

package websocket

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"slices"
	"strings"
	"testing"
)

// serverOnly is the exported API that the browser's build (GOOS=js) lacks:
// the server's side, which a browser cannot run, and PreparedMessage, made
// for servers' broadcasts.
var serverOnly = []string{
	"AcceptKey", "EnableExtendedConnect", "ErrExtendedConnectDisabled", "HTTPError", "*HTTPError.Error",
	"Handler", "Handler.ServeHTTP", "IsWebSocketUpgrade", "Server", "*Server.Serve", "*Server.ServeHTTP",
	"*Server.Shutdown", "*Server.Upgrade", "Upgrade", "PreparedMessage", "NewPreparedMessage",
	"*Conn.WritePreparedMessage",
}

// TestBrowserAPI checks that the browser's build (GOOS=js GOARCH=wasm) has
// the exported API of the others but for serverOnly, with the same
// signatures, so that code that dials and uses a Conn builds for both; and
// nothing of its own.
func TestBrowserAPI(t *testing.T) {
	native := exportedAPI(t, "linux", "amd64")
	browser := exportedAPI(t, "js", "wasm")
	if len(native) < 50 || len(browser) < 50 {
		t.Fatalf("found only %d exported names on linux and %d on js", len(native), len(browser))
	}
	for name, sig := range native {
		bsig, ok := browser[name]
		switch {
		case slices.Contains(serverOnly, name):
			if ok {
				t.Errorf("%s is built for the browser; serverOnly says it is not", name)
			}
		case !ok:
			t.Errorf("%s is missing in the browser's build", name)
		case bsig != sig:
			t.Errorf("%s is %s in the browser's build, %s elsewhere", name, bsig, sig)
		}
	}
	for name := range browser {
		if _, ok := native[name]; !ok {
			t.Errorf("%s is only in the browser's build", name)
		}
	}
	for _, name := range serverOnly {
		if _, ok := native[name]; !ok {
			t.Errorf("serverOnly names %s, which does not exist", name)
		}
	}
}

// exportedAPI parses the package's files that build for goos and goarch,
// tests left out, and returns its exported names, methods as "*Conn.Close",
// each with its kind or, for functions, its signature without parameter
// names.
func exportedAPI(t *testing.T, goos, goarch string) map[string]string {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, goarch, false
	pkg, err := ctx.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("listing the files for %s/%s: %v", goos, goarch, err)
	}
	api := make(map[string]string)
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			addDecl(api, d)
		}
	}
	return api
}

// addDecl adds the exported names that d declares to api.
func addDecl(api map[string]string, d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		name := d.Name.Name
		if d.Recv != nil {
			recv := types.ExprString(d.Recv.List[0].Type)
			if !ast.IsExported(strings.TrimPrefix(recv, "*")) {
				return
			}
			name = recv + "." + name
		}
		if d.Name.IsExported() {
			api[name] = "func(" + fieldTypes(d.Type.Params) + ") (" + fieldTypes(d.Type.Results) + ")"
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() {
					api[s.Name.Name] = "type"
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() {
						api[n.Name] = d.Tok.String()
					}
				}
			}
		}
	}
}

// fieldTypes lists the types of a parameter or result list, one per
// parameter, without the names.
func fieldTypes(fields *ast.FieldList) string {
	if fields == nil {
		return ""
	}
	var list []string
	for _, f := range fields.List {
		for range max(len(f.Names), 1) {
			list = append(list, types.ExprString(f.Type))
		}
	}
	return strings.Join(list, ", ")
}
