package lru
var windowDivisor = 4
