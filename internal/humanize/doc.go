// Package humanize prints sizes for people.
package humanize
