package uringnet

// acceptModes are the ways a listener accepts, for tests that run over
// each: acceptPoll is every listener's where the netpoller takes the
// socket, the others the fallbacks.
var acceptModes = []acceptMode{acceptPoll, acceptMultishot, acceptSingle}

func (m acceptMode) String() string {
	switch m {
	case acceptPoll:
		return "poll-accept"
	case acceptMultishot:
		return "multishot-accept"
	}
	return "single-accept"
}

// withAcceptMode makes l accept in mode m (acceptMultishot only where
// the kernel has it, acceptSingle otherwise); it must be called before
// l's first Accept.
func withAcceptMode(l *Listener, m acceptMode) *Listener {
	if m == acceptMultishot && !multishotAccept() {
		m = acceptSingle
	}
	l.mode = m
	return l
}
