package uringfs

import "github.com/uring-go/uring/internal/splice"

// spliceChunk is the most one splice moves.
const spliceChunk = splice.MaxChunk
