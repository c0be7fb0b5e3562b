// ArangoDB's error numbers (errorNum) that StreamForge meets, with the server's default
// message for each (lib/Basics/errors.dat). One table for the store's error texts and the
// test double's answers (tests/doubles/arangodb), so the two cannot drift apart.
// Header-only; thread-safe (constant data).
#pragma once

namespace sf::store::arango {

// errors.dat's message for `error_num` ("illegal document key"); "" for a number not listed.
inline const char* error_name(int error_num) {
  switch (error_num) {
    case 10:
      return "bad parameter";
    case 11:
      return "not authorized to execute this request";
    case 32:
      return "resource limit exceeded";
    case 400:
      return "bad parameter";
    case 401:
      return "unauthorized";
    case 404:
      return "not found";
    case 405:
      return "method not supported";
    case 503:
      return "service unavailable";
    case 600:
      return "invalid JSON object";
    case 1200:  // errors.dat: "conflict"; a RocksDB server's text for it
      return "write-write conflict";
    case 1202:
      return "document not found";
    case 1203:
      return "collection or view not found";
    case 1205:
      return "illegal document identifier";
    case 1207:
      return "duplicate name";
    case 1208:
      return "illegal name";
    case 1210:
      return "unique constraint violated";
    case 1212:
      return "index not found";
    case 1218:
      return "collection type invalid";
    case 1221:
      return "illegal document key";
    case 1222:
      return "unexpected document key";
    case 1227:
      return "invalid document type";
    case 1228:
      return "database not found";
    case 1229:
      return "database name invalid";
    case 1230:
      return "operation only allowed in system database";
    case 1232:
      return "invalid key generator";
    case 1233:
      return "edge attribute missing or invalid";
    case 1501:
      return "AQL syntax error";
    case 1502:
      return "query is empty";
    case 1550:
      return "invalid structure of bind parameters";
    case 1551:
      return "bind parameter missing";
    case 1552:
      return "bind parameter undeclared";
    case 1600:
      return "cursor not found";
    case 1652:
      return "unregistered collection used in transaction";
    case 1653:
      return "disallowed operation inside transaction";
    case 1654:
      return "transaction aborted";
    case 1655:
      return "transaction not found";
    case 1922:
      return "missing graph name";
    case 1923:
      return "malformed edge definition";
    case 1924:
      return "graph not found";
    case 1925:
      return "graph already exists";
    case 1943:
      return "malformed orphan list";
    case 1944:
      return "edge definition collection is a document collection";
    default:
      return "";
  }
}

}  // namespace sf::store::arango
