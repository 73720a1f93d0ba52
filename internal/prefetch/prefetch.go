package prefetch

// LineSize is the cache line size Lines steps by.
const LineSize = 64
