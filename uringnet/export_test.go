package uringnet

// acceptModes are the ways a listener accepts, for tests that run over
// each: acceptPoll is every listener's where the netpoller takes the
// socket, the others the fallbacks.
var acceptModes = []acceptMode{acceptPoll, acceptSingle}

func (m acceptMode) String() string {
	if m == acceptPoll {
		return "poll-accept"
	}
	return "single-accept"
}

// withAcceptMode makes l accept in mode m; it must be called before l's
// first Accept.
func withAcceptMode(l *Listener, m acceptMode) *Listener {
	l.mode = m
	return l
}
