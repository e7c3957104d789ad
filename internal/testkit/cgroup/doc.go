// Package cgroup holds every process of one test cluster in a cgroup of
// its own (in every v1 hierarchy, or the v2 tree): limits on CPU and
// memory for the whole cluster, and a sweep that kills what is left.
package cgroup
