package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestNoPackageState checks that the command keeps no mutable state in
// package variables: what tests need to change (terminals, free space)
// is in the env a command runs with, so that tests cannot leak a hook
// into one another. The only package variables are the commands, which
// init completes and nothing changes after.
func TestNoPackageState(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				v := spec.(*ast.ValueSpec)
				if len(v.Values) == 1 && isCommandLiteral(v.Values[0]) {
					continue
				}
				for _, name := range v.Names {
					t.Errorf("%s: package variable %s", fset.Position(name.Pos()), name.Name)
				}
			}
		}
	}
}

// isCommandLiteral reports whether x is &command{...}.
func isCommandLiteral(x ast.Expr) bool {
	u, ok := x.(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return false
	}
	c, ok := u.X.(*ast.CompositeLit)
	if !ok {
		return false
	}
	id, ok := c.Type.(*ast.Ident)
	return ok && id.Name == "command"
}
