// zone.js tells the server the reader's time zone (the tz cookie), so
// that pages show times where the reader is (web/zone.go).
(function () {
  'use strict';
  var z;
  try { z = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!z || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(z)) { return; }
  var m = /(?:^|;\s*)tz=([^;]*)/.exec(document.cookie);
  if (m && m[1] === z) { return; }
  document.cookie = 'tz=' + z + '; path=/; max-age=31536000; samesite=lax' + (location.protocol === 'https:' ? '; secure' : '');
}());
