package expr

import (
	"fmt"
	"sort"
	"strings"
)

type fnID uint8

const (
	fnNone fnID = iota
	fnTrue
	fnFalse
	fnNot
	fnBoolean
	fnBooleanFromString
	fnIf
	fnSelected
	fnCountSelected
	fnSelectedAt
	fnChoiceName
	fnChecklist
	fnWeightedChecklist
	fnRegex
	fnContains
	fnStartsWith
	fnEndsWith
	fnCoalesce
	fnConcat
	fnJoin
	fnSubstr
	fnSubstring
	fnSubstringBefore
	fnSubstringAfter
	fnTranslate
	fnNormalizeSpace
	fnStringLength
	fnString
	fnNumber
	fnInt
	fnRound
	fnFloor
	fnCeiling
	fnAbs
	fnPow
	fnExp
	fnExp10
	fnLog
	fnLog10
	fnSqrt
	fnPi
	fnSin
	fnCos
	fnTan
	fnAsin
	fnAcos
	fnAtan
	fnAtan2
	fnToday
	fnNow
	fnDate
	fnDateTime
	fnDecimalDateTime
	fnDecimalTime
	fnFormatDate
	fnFormatDateTime
	fnPosition
	fnCount
	fnCountNonEmpty
	fnSum
	fnMax
	fnMin
	fnIndexedRepeat
	fnOnce
	fnUUID
	fnRandom
	fnDigest
	fnBase64Decode
	fnArea
	fnDistance
	fnGeofence
	fnCurrent
	fnInstance
	fnRejected
)

// arity kinds beyond min..max
const (
	arityRange = iota
	arityOdd   // indexed-repeat: 3, 5, 7, 9, 11
	arityEven  // weighted-checklist: 2, 4, 6, ...
)

type fnInfo struct {
	id       fnID
	min, max int // max -1: no limit
	arity    int
	nonConst bool   // reads the Env, the clock or randomness
	reject   string // not supported: the SyntaxError message
}

func fi(id fnID, min, max int) fnInfo { return fnInfo{id: id, min: min, max: max} }

func env(id fnID, min, max int) fnInfo {
	return fnInfo{id: id, min: min, max: max, nonConst: true}
}

func rejected(msg string) fnInfo { return fnInfo{id: fnRejected, reject: msg} }

var funcTable = map[string]fnInfo{
	"true":                fi(fnTrue, 0, 0),
	"false":               fi(fnFalse, 0, 0),
	"not":                 fi(fnNot, 1, 1),
	"boolean":             fi(fnBoolean, 1, 1),
	"boolean-from-string": fi(fnBooleanFromString, 1, 1),
	"if":                  fi(fnIf, 3, 3),
	"selected":            fi(fnSelected, 2, 2),
	"is-selected":         fi(fnSelected, 2, 2),
	"count-selected":      fi(fnCountSelected, 1, 1),
	"selected-at":         fi(fnSelectedAt, 2, 2),
	"jr:choice-name":      env(fnChoiceName, 2, 2),
	"checklist":           fi(fnChecklist, 2, -1),
	"weighted-checklist":  {id: fnWeightedChecklist, min: 2, max: -1, arity: arityEven},
	"regex":               fi(fnRegex, 2, 2),
	"contains":            fi(fnContains, 2, 2),
	"starts-with":         fi(fnStartsWith, 2, 2),
	"ends-with":           fi(fnEndsWith, 2, 2),
	"coalesce":            fi(fnCoalesce, 2, 2),
	"concat":              fi(fnConcat, 0, -1),
	"join":                fi(fnJoin, 1, -1),
	"substr":              fi(fnSubstr, 2, 3),
	"substring":           fi(fnSubstring, 2, 3),
	"substring-before":    fi(fnSubstringBefore, 2, 2),
	"substring-after":     fi(fnSubstringAfter, 2, 2),
	"translate":           fi(fnTranslate, 3, 3),
	"normalize-space":     fi(fnNormalizeSpace, 0, 1),
	"string-length":       fi(fnStringLength, 0, 1),
	"string":              fi(fnString, 0, 1),
	"number":              fi(fnNumber, 0, 1),
	"int":                 fi(fnInt, 1, 1),
	"round":               fi(fnRound, 1, 2),
	"floor":               fi(fnFloor, 1, 1),
	"ceiling":             fi(fnCeiling, 1, 1),
	"abs":                 fi(fnAbs, 1, 1),
	"pow":                 fi(fnPow, 2, 2),
	"exp":                 fi(fnExp, 1, 1),
	"exp10":               fi(fnExp10, 1, 1),
	"log":                 fi(fnLog, 1, 1),
	"log10":               fi(fnLog10, 1, 1),
	"sqrt":                fi(fnSqrt, 1, 1),
	"pi":                  fi(fnPi, 0, 0),
	"sin":                 fi(fnSin, 1, 1),
	"cos":                 fi(fnCos, 1, 1),
	"tan":                 fi(fnTan, 1, 1),
	"asin":                fi(fnAsin, 1, 1),
	"acos":                fi(fnAcos, 1, 1),
	"atan":                fi(fnAtan, 1, 1),
	"atan2":               fi(fnAtan2, 2, 2),
	"today":               env(fnToday, 0, 0),
	"now":                 env(fnNow, 0, 0),
	"date":                fi(fnDate, 1, 1),
	"date-time":           fi(fnDateTime, 1, 1),
	"decimal-date-time":   fi(fnDecimalDateTime, 1, 1),
	"decimal-time":        env(fnDecimalTime, 1, 1), // converts offsets to the device's
	"format-date":         fi(fnFormatDate, 2, 2),
	"format-date-time":    fi(fnFormatDateTime, 2, 2),
	"position":            env(fnPosition, 0, 1),
	"count":               fi(fnCount, 1, 1),
	"count-non-empty":     fi(fnCountNonEmpty, 1, 1),
	"sum":                 fi(fnSum, 1, 1),
	"max":                 fi(fnMax, 1, -1),
	"min":                 fi(fnMin, 1, -1),
	"indexed-repeat":      {id: fnIndexedRepeat, min: 3, max: 11, arity: arityOdd, nonConst: true},
	"once":                env(fnOnce, 1, 1),
	"uuid":                env(fnUUID, 0, 1),
	"random":              env(fnRandom, 0, 0),
	"digest":              fi(fnDigest, 2, 3),
	"base64-decode":       fi(fnBase64Decode, 1, 1),
	"area":                fi(fnArea, 1, 1),
	"enclosed-area":       fi(fnArea, 1, 1),
	"distance":            fi(fnDistance, 1, -1),
	"geofence":            fi(fnGeofence, 2, 2),
	"current":             env(fnCurrent, 0, 0),
	"instance":            env(fnInstance, 1, 1),

	"pulldata":  rejected("pulldata() needs the form's CSV file and is not supported"),
	"jr:itext":  rejected("jr:itext() (translated text) is not supported in expressions"),
	"randomize": rejected("randomize() is not supported (it orders choice lists, not values)"),
	"version":   rejected("version() is not supported: the form version is not known to expressions"),
	"last":      rejected("last() is not supported"),
}

// checkArity returns the SyntaxError message for a wrong number of arguments, or "".
func (f fnInfo) checkArity(name string, n int) string {
	switch f.arity {
	case arityOdd:
		if n < 3 || n > 11 || n%2 == 0 {
			return fmt.Sprintf("%s() takes 3, 5, 7, 9 or 11 arguments (a ${field}, then ${repeat} and index pairs), got %d", name, n)
		}
		return ""
	case arityEven:
		if n < 2 || n%2 != 0 {
			return fmt.Sprintf("%s() takes min, max, then value and weight pairs (an even number of arguments), got %d", name, n)
		}
		return ""
	}
	if n >= f.min && (f.max < 0 || n <= f.max) {
		return ""
	}
	plural := func(k int) string {
		if k == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", k)
	}
	switch {
	case f.min == f.max:
		return fmt.Sprintf("%s() takes %s, got %d", name, plural(f.min), n)
	case f.max < 0:
		return fmt.Sprintf("%s() takes at least %s, got %d", name, plural(f.min), n)
	case f.max == f.min+1:
		return fmt.Sprintf("%s() takes %d or %d arguments, got %d", name, f.min, f.max, n)
	}
	return fmt.Sprintf("%s() takes %d to %d arguments, got %d", name, f.min, f.max, n)
}

// unknownFunc is the message for a name that is not a function, with a suggestion
// for the usual slips (count_selected, IF, choice-name).
func unknownFunc(name string) string {
	msg := fmt.Sprintf("unknown function %q", name)
	for _, guess := range []string{
		strings.ReplaceAll(name, "_", "-"),
		strings.ToLower(name),
		strings.ToLower(strings.ReplaceAll(name, "_", "-")),
		"jr:" + name,
	} {
		if f, ok := funcTable[guess]; ok && guess != name && f.reject == "" {
			return msg + fmt.Sprintf(" (did you mean %q?)", guess)
		}
	}
	return msg
}

// FuncNames returns the names of the supported functions, sorted.
func FuncNames() []string {
	var names []string
	for name, f := range funcTable {
		if f.reject == "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
