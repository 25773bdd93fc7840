//go:build !unix

package workload

import "time"

// processCPU is 0 where getrusage is not available: the CPU columns read 0.
func processCPU() time.Duration { return 0 }
