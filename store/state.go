package store

import (
	"context"
	"errors"
)

// Errors of a State.
var (
	// ErrUnavailable: the shared store cannot be reached, so an operation that must reach it (an erasure, an
	// export) cannot be done now. Decisions never see it: they fall back to local state.
	ErrUnavailable = errors.New("store: state unavailable")
	// ErrKeyMismatch: the stored state was keyed with another hash key than the one riskd was started with.
	ErrKeyMismatch = errors.New("store: state was written under another hash key")
	// ErrAuth: Redis refused riskd's credentials (no or a wrong password, an ACL user without a command it
	// needs) or the TLS handshake failed (an untrusted certificate, a client certificate missing). Trying again
	// cannot help, so riskd does not start.
	ErrAuth = errors.New("store: redis refused the credentials or the TLS handshake")
)

// Subjects names what one event concerns, by keyed hash. A subject whose Has flag is false is absent (no user id
// on a registration, no device id, an address without a known ASN).
//
// Country, UA and Amount are what an attempt adds to the facts besides its subjects (Observe only): zero values
// are unknown and add nothing.
type Subjects struct {
	User, IP, Device, Subnet, ASN                uint64
	HasUser, HasIP, HasDevice, HasSubnet, HasASN bool
	Country                                      [2]byte // ISO 3166-1 alpha-2
	UA                                           uint32  // hash of the user agent's browser family and OS
	Amount                                       float64
	HasAmount                                    bool
}

// Reading is what a decision reads about its subjects: each one's counters, their facts and the user's profile.
type Reading struct {
	User, IP, Device, Subnet, ASN [NumMetrics]Counts
	Facts                         Facts
	HasProfile                    bool
	Profile                       Profile
}

// State is riskd's learned state: velocity windows per user, IP, device, subnet and ASN, the facts of users,
// addresses, subnets and devices (facts.go), and user profiles. Memory and
// Embedded keep it in this process, Redis shares it between instances. All times are event times in unix
// seconds. Implementations are safe for concurrent use.
//
// Methods called on the request path (Observe, Count, Apply) never fail and never block on disk; a backend
// that cannot reach its store answers from local state and says so through Health.
type State interface {
	// Observe fills out with the subjects' counters and facts and the user's profile as of time at, then counts
	// one event of each metric in count for every subject and, when count is not empty, adds the attempt to
	// the facts: reading and counting together, so that instances sharing state count an attack once and
	// exactly. The reading does not include the event it counts.
	Observe(s Subjects, at int64, count MetricSet, out *Reading)
	// Count counts one event of each metric in ms for every subject at time at.
	Count(s Subjects, ms MetricSet, at int64)
	// Apply applies op to the profile of user.
	Apply(user uint64, op ProfileOp)
	// Export copies everything held about the user into out (profile, counters and facts, as of time at), and
	// reports whether anything is held.
	Export(user uint64, at int64, out *UserData) (bool, error)
	// Erase forgets the user's profile and counters wherever they are kept, and reports whether a profile was
	// held. It returns once the erasure is durable; an error means it must be retried.
	Erase(user uint64) (bool, error)
	// Expire drops profile entries last seen before cutoff (Profile.Expire) and returns how many profiles
	// changed. It runs off the request path.
	Expire(ctx context.Context, cutoff int64) (int, error)
	// Health is nil while the state is fully available, else what is degraded (decisions go on).
	Health() error
	// Close persists what must outlive the process and releases the store.
	Close() error
}
