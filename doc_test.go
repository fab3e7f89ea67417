package uring_test

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDocComments holds every public package to its documentation: each
// exported identifier (type, function, method, constant, variable) has a
// doc comment, the comment starts with the identifier's name, and each
// exported field of an exported struct type has a comment or is named in
// the type's. Constants and
// variables declared in a group may share the group's comment instead, as
// go doc shows them together. Packages under internal/ and commands
// (package main) have no importers to document for, and are skipped.
func TestDocComments(t *testing.T) {
	const module = "github.com/uring-go/uring"
	var problems []string
	checked := 0
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		base := d.Name()
		if dir != "." && (base == "internal" || base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		var files []*ast.File
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		if len(files) == 0 || files[0].Name.Name == "main" {
			return nil
		}
		pkg, err := doc.NewFromFiles(fset, files, path.Join(module, filepath.ToSlash(dir)))
		if err != nil {
			return err
		}
		checked++
		problems = append(problems, checkPackage(fset, pkg)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Fatalf("checked %d packages; expected at least uring, region, uringfs and uringnet (run from the module root)", checked)
	}
	slices.Sort(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// checkPackage lists pkg's documentation problems, each as
// "file:line: what".
func checkPackage(fset *token.FileSet, pkg *doc.Package) []string {
	var out []string
	report := func(pos token.Pos, format string, args ...any) {
		where := pkg.ImportPath
		if pos.IsValid() {
			p := fset.Position(pos)
			where = fmt.Sprintf("%s:%d", p.Filename, p.Line)
		}
		out = append(out, where+": "+fmt.Sprintf(format, args...))
	}
	if pkg.Doc == "" {
		report(token.NoPos, "package %s has no package comment", pkg.Name)
	} else if !strings.HasPrefix(pkg.Doc, "Package "+pkg.Name+" ") {
		report(token.NoPos, "package %s: the package comment should start with \"Package %s \"", pkg.Name, pkg.Name)
	}
	named := func(kind, name, what, docText string, pos token.Pos) {
		switch {
		case strings.TrimSpace(docText) == "":
			report(pos, "%s %s has no doc comment", kind, what)
		case !startsWithName(docText, name):
			report(pos, "%s %s: doc comment should start with %q, not %q", kind, what, name, firstWords(docText))
		}
	}
	values := func(vs []*doc.Value, kind, owner string) {
		for _, v := range vs {
			gd := v.Decl
			if v.Doc != "" {
				// A single declaration's comment must name it; a
				// group's comment speaks for all of it.
				if len(gd.Specs) == 1 {
					spec := gd.Specs[0].(*ast.ValueSpec)
					if !slices.ContainsFunc(spec.Names, func(n *ast.Ident) bool { return startsWithName(v.Doc, n.Name) }) && !gd.Lparen.IsValid() {
						report(gd.Pos(), "%s %s: doc comment should start with %q, not %q", kind, spec.Names[0].Name+owner, spec.Names[0].Name, firstWords(v.Doc))
					}
				}
				continue
			}
			for _, s := range gd.Specs {
				spec := s.(*ast.ValueSpec)
				if spec.Doc != nil || spec.Comment != nil {
					continue
				}
				for _, n := range spec.Names {
					if n.IsExported() {
						report(n.Pos(), "%s %s has no doc comment (nor has its group)", kind, n.Name+owner)
					}
				}
			}
		}
	}
	values(pkg.Consts, "const", "")
	values(pkg.Vars, "var", "")
	for _, f := range pkg.Funcs {
		named("func", f.Name, f.Name, f.Doc, f.Decl.Pos())
	}
	for _, typ := range pkg.Types {
		named("type", typ.Name, typ.Name, typ.Doc, typ.Decl.Pos())
		values(typ.Consts, "const", "")
		values(typ.Vars, "var", "")
		for _, f := range typ.Funcs {
			named("func", f.Name, f.Name, f.Doc, f.Decl.Pos())
		}
		for _, m := range typ.Methods {
			named("method", m.Name, typ.Name+"."+m.Name, m.Doc, m.Decl.Pos())
		}
		for _, s := range typ.Decl.Specs {
			ts, ok := s.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ.Name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, field := range st.Fields.List {
				if field.Doc != nil || field.Comment != nil {
					continue
				}
				for _, n := range field.Names {
					if n.IsExported() && !mentions(typ.Doc, n.Name) {
						report(n.Pos(), "field %s.%s has no comment, and the type's doc comment does not mention it", typ.Name, n.Name)
					}
				}
			}
		}
	}
	return out
}

// startsWithName reports whether a doc comment starts with name as a
// word, optionally after an article ("A Ring is ..."), as go vet's and
// golint's checks accept.
func startsWithName(docText, name string) bool {
	for _, prefix := range []string{"", "A ", "An ", "The "} {
		rest, ok := strings.CutPrefix(docText, prefix+name)
		if ok && (rest == "" || !isIdentChar(rest[0])) {
			return true
		}
	}
	return false
}

// mentions reports whether text has name as a word.
func mentions(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(name)
		if (j == 0 || !isIdentChar(text[j-1])) && (end == len(text) || !isIdentChar(text[end])) {
			return true
		}
		i = j + 1
	}
}

func isIdentChar(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func firstWords(s string) string {
	if f := strings.Fields(s); len(f) > 3 {
		return strings.Join(f[:3], " ") + " ..."
	}
	return strings.TrimSpace(s)
}
