package main

import (
	"bufio"
	"io"
)

func bufioScanner(r io.Reader) *bufio.Scanner { return bufio.NewScanner(r) }
