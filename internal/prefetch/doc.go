// Package prefetch asks the CPU to start loading memory that is about to be used.
//
// A decision reads about a dozen records scattered over hundreds of megabytes of state; each is a cache miss.
// Read one after the other, every miss waits for the one before it. Announced first, with Lines, the loads
// overlap, and the decision waits for memory about once instead of a dozen times. A prefetch is only a hint: it
// never faults, changes no memory the program can observe, and on architectures without an implementation here
// Lines does nothing.
package prefetch
