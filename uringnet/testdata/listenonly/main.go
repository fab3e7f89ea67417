// Command listenonly listens with uringnet and does nothing else; the
// import-graph test builds it to measure what a Listen-only program links
// and runs before main.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/uring-go/uring/uringnet"
)

func main() {
	fmt.Println(runtime.NumGoroutine())
	if len(os.Args) > 1 {
		ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ln.Close()
	}
}
