package engine

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestPackageDocIsTheManual: the package documentation tells a gnet user
// how to move (the Run call and the OnBoot line), what the engine's own
// options, logging and fallback do, and points into no internal package
// or source file a user cannot read in go doc.
func TestPackageDocIsTheManual(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	p := doc.New(pkgs["engine"], "github.com/uring-go/uring/uringnet/engine", 0)
	for _, want := range []string{
		"# Moving from gnet", "engine.Run", "engine.Of(s)", "engine.Rotate",
		"# Engine options", "FallbackToGnet", "# Logging", "WithLogPath",
		"# When io_uring is missing", "# Kernel features", "# Differences from gnet",
	} {
		if !strings.Contains(p.Doc, want) {
			t.Errorf("the package doc lacks %q", want)
		}
	}
	for _, stale := range []string{"OnTick runs on event loop 0", "Register and Enroll are not supported", "Run rejects them"} {
		if strings.Contains(p.Doc, stale) {
			t.Errorf("the package doc still says %q", stale)
		}
	}
	bad := regexp.MustCompile(`internal/|\b[a-z_]+\.go\b`)
	check := func(name, text string) {
		if m := bad.FindString(text); m != "" {
			t.Errorf("%s's doc points to %q, which a user of go doc cannot read", name, m)
		}
	}
	check("package", p.Doc)
	for _, f := range p.Funcs {
		check(f.Name, f.Doc)
	}
	for _, ty := range p.Types {
		check(ty.Name, ty.Doc)
		for _, f := range append(ty.Funcs, ty.Methods...) {
			check(ty.Name+"."+f.Name, f.Doc)
		}
		ast.Inspect(ty.Decl, func(n ast.Node) bool {
			if fld, ok := n.(*ast.Field); ok && fld.Doc != nil {
				check(ty.Name+" field", fld.Doc.Text())
			}
			return true
		})
	}
}
