package server

import (
	"math"
	"time"

	"github.com/valyala/fasthttp"
)

// HeaderRequestStart carries when the caller queued the request, so that riskd can see the wait that happens
// before a request reaches it: in the caller's connection pool, its load balancer and the socket buffers. Under
// overload that is where the backlog forms, out of reach of any limit inside riskd, and an answer arriving after
// the caller gave up is work thrown away. The name and formats are the ones load balancers and APM agents already
// use: `t=1700000000.123` (seconds, as nginx's $msec writes it) or an integer in seconds, milliseconds,
// microseconds or nanoseconds since the epoch, with or without the `t=` prefix.
const HeaderRequestStart = "X-Request-Start"

// queueAge returns how long ago, as of now, the caller says it queued the request, and whether it said so. A
// start in the future (clocks a little apart) counts as no wait.
func queueAge(ctx *fasthttp.RequestCtx, now time.Time) (time.Duration, bool) {
	v := ctx.Request.Header.Peek(HeaderRequestStart)
	if len(v) == 0 {
		return 0, false
	}
	ns, ok := parseRequestStart(v)
	if !ok {
		return 0, false
	}
	return max(time.Duration(now.UnixNano()-ns), 0), true
}

// maxSeconds (the year 2255) bounds a start given in seconds, so that it fits int64 nanoseconds.
const maxSeconds = 9e9

// parseRequestStart reads an X-Request-Start value as unix nanoseconds. It allocates nothing.
func parseRequestStart(v []byte) (int64, bool) {
	if len(v) > 2 && v[0] == 't' && v[1] == '=' {
		v = v[2:]
	}
	var whole, frac, scale int64 = 0, 0, 1
	digits, dot := 0, false
	for _, c := range v {
		switch {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			digits++
			if dot {
				if scale < 1e9 { // finer than a nanosecond is dropped
					frac = frac*10 + int64(c-'0')
					scale *= 10
				}
			} else {
				d := int64(c - '0')
				if whole > (math.MaxInt64-d)/10 { // beyond any nanoseconds since the epoch: not a time
					return 0, false
				}
				whole = whole*10 + d
			}
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	if dot {
		if whole >= maxSeconds { // seconds with a fraction, and past maxSeconds: not a time
			return 0, false
		}
		return whole*1e9 + frac*(1e9/scale), true
	}
	// An integer's unit follows from its size: seconds below maxSeconds, milliseconds and microseconds up to
	// the same time; what remains is nanoseconds.
	switch {
	case whole < maxSeconds:
		return whole * 1e9, true
	case whole < maxSeconds*1e3:
		return whole * 1e6, true
	case whole < maxSeconds*1e6:
		return whole * 1e3, true
	default:
		return whole, true
	}
}
