package web

// Exported for the package's external tests.
var QRSVG = qrSVG

const QRQuiet = qrQuiet
