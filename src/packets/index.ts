/**
 * Packet tests: the PacketTest format (schemas/packet-test.schema.json), frames built from
 * packet descriptions or read from pcap files, and what each expectation means.
 */
export * from './types.js';
export { buildFrame, describePacket, frameLength, internetChecksum } from './frame.js';
export { readPcap, writePcap, LINKTYPE_ETHERNET, type PcapFile, type PcapPacket } from './pcap.js';
export { loadPacketTests, MAX_PCAP_BYTES, type LoadPacketTestsOptions } from './load.js';
export { differences, expectedAt, judge, outcomeRuns, packetCount, sameOutcome, sendOrder, type JudgeOptions, type Mismatch, type Outcome, type OutcomeRun } from './expect.js';
