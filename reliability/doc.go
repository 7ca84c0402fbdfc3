// Package reliability holds the reliability and security suite of lined:
// the tests of docs/reliability.md (R1–R12 but R8) that need the real
// programs. The tests run the tools as child processes (the test binary
// re-executes itself as mkindex, getline or lined), talk to lined over
// 127.0.0.1 only, and bound every loop in count and time. R8 (fuzzing) and
// the in-process halves of R3 and R9 live in internal/server.
//
// Each test prints its figure on a line starting with "FIGURE Rn:".
//
// Three sizes, chosen with the environment variable LINED_RELIABILITY:
//
//	(unset)  quick: small forms, a few seconds in all; part of go test ./...
//	ci       the targets' sizes where they are cheap (10,000 connections,
//	         1,000 slowloris connections, every flip of a small index, a
//	         600 MB file rewritten in place); run by scripts/reliability.sh ci
//	full     everything at full size and length (10 million empty lines, a
//	         100 MiB line, long load runs): scripts/reliability.sh full
//
// -short (go test -race -short ./... in CI) keeps R1, R4 and R9, which
// exercise lined's concurrency, and skips the rest: R2 and R3 also skip
// under the race detector, whose overhead they would measure.
package reliability
